// Talking to the inspector server: JSON over HTTP (with the page's token, if it was opened with one)
// and the `/feed` WebSocket, reconnecting with backoff. See src/inspector/protocol.ts.
import { $ } from './dom.js';

const TOKEN = new URLSearchParams(location.search).get('token') ?? '';

export function withToken(path) {
  if (!TOKEN) return path;
  return path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(TOKEN);
}

function authHeaders(extra = {}) {
  return TOKEN ? { ...extra, Authorization: `Bearer ${TOKEN}` } : extra;
}

/** fetch, answered as { status, ok, body } with the JSON body (null when there is none). */
export async function api(path, init = {}) {
  const res = await fetch(withToken(path), { ...init, headers: authHeaders(init.headers ?? {}) });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  return { status: res.status, ok: res.ok, body };
}

/** The routing machine's graph: { id, initial, states, edges, departments? }. */
export async function loadMachine() {
  const res = await api('/api/machine');
  if (!res.ok || !res.body) throw new Error(`GET /api/machine answered ${res.status}`);
  return res.body;
}

function setConn(status, text) {
  const el = $('conn');
  el.dataset.status = status;
  el.querySelector('.conn-text').textContent = text;
}

let backoff = 500;

/** Opens the feed, hands each message to `onMessage`, and reconnects when it closes. */
export function connect(onMessage) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}${withToken('/feed')}`);
  let opened = false;
  ws.addEventListener('open', () => {
    opened = true;
    backoff = 500;
    setConn('open', 'live');
  });
  ws.addEventListener('message', (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    onMessage(msg);
  });
  ws.addEventListener('close', () => {
    const wait = backoff;
    backoff = Math.min(backoff * 2, 10_000);
    setConn('closed', opened ? `reconnecting in ${Math.round(wait / 1000) || 1}s…` : `offline, retrying in ${Math.round(wait / 1000) || 1}s…`);
    setTimeout(() => connect(onMessage), wait);
  });
}
