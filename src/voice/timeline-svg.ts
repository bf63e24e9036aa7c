/**
 * A voice call's timeline as a picture (`timeline.svg` next to `call.wav`): the caller's and the agents'
 * sound as two waveform lanes on one clock, each utterance coloured by who spoke, each transfer marked
 * with the silence the caller heard there. Plain SVG: opens in any browser, renders on GitHub.
 */
import { AGENT_RATE } from './agent-audio.js';
import { levels } from '../call/sound.js';
import type { Timeline } from './timeline.js';

const COLOURS: Record<string, string> = {
  caller: '#6b7280',
  triage: '#2563eb',
  billing: '#d97706',
  sales: '#059669',
  support: '#7c3aed',
  human: '#dc2626',
};

const W = 1200;
const LANE = 70;
const TOP = 28;
const LEFT = 70;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Bars of the channel's level (one per 10 ms frame group), coloured by the utterance they fall in. */
function lane(channel: Int16Array, t: Timeline, y: number, speakers: (s: string) => boolean, x: (ms: number) => number): string {
  const lv = levels(channel, AGENT_RATE);
  const perPx = Math.max(1, Math.ceil(lv.length / (W - LEFT - 10)));
  const bars: string[] = [];
  for (let i = 0; i < lv.length; i += perPx) {
    const db = Math.max(...lv.slice(i, i + perPx));
    if (db < -60) continue;
    const h = Math.max(1, ((db + 60) / 60) * (LANE / 2 - 4));
    const ms = i * 10;
    const who = t.utterances.find((u) => speakers(u.speaker) && ms >= u.startMs - 20 && ms <= u.endMs + 20)?.speaker ?? 'caller';
    bars.push(`<rect x="${x(ms).toFixed(1)}" y="${(y + LANE / 2 - h).toFixed(1)}" width="1" height="${(2 * h).toFixed(1)}" fill="${COLOURS[who] ?? '#999'}"/>`);
  }
  return bars.join('');
}

export function timelineSvg(t: Timeline, caller: Int16Array, agents: Int16Array): string {
  const x = (ms: number) => LEFT + (ms / Math.max(1, t.durationMs)) * (W - LEFT - 10);
  const height = TOP + 2 * LANE + 56;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${LEFT}" y="16" font-size="12">A call by voice: caller (left channel of call.wav) and agents (right), ${(t.durationMs / 1000).toFixed(1)} s</text>`,
    `<text x="8" y="${TOP + LANE / 2 + 4}">caller</text><text x="8" y="${TOP + LANE * 1.5 + 4}">agents</text>`,
    lane(caller, t, TOP, (s) => s === 'caller', x),
    lane(agents, t, TOP + LANE, (s) => s !== 'caller', x),
  ];
  for (const [i, tr] of t.transfers.entries()) {
    const at = x(tr.atMs);
    // Transfers close together (a chain) take turns between two rows of labels.
    const row = TOP + 2 * LANE + 14 + (i % 2) * 14;
    const label = `${tr.from}→${tr.to}${tr.silenceMs === null ? '' : ` ${tr.silenceMs} ms`}`;
    parts.push(`<line x1="${at}" x2="${at}" y1="${TOP}" y2="${TOP + 2 * LANE}" stroke="#111" stroke-dasharray="3 3"/>`);
    parts.push(`<text x="${at + 2}" y="${row}" font-size="10">${esc(label)}</text>`);
  }
  let lx = LEFT;
  for (const [who, colour] of Object.entries(COLOURS)) {
    if (!t.utterances.some((u) => u.speaker === who)) continue;
    parts.push(`<rect x="${lx}" y="${height - 18}" width="10" height="10" fill="${colour}"/><text x="${lx + 14}" y="${height - 9}">${who}</text>`);
    lx += 90;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
