// A past call's recording as a waveform: fetched from the inspector (GET /api/records/:id/recording), decoded
// with WebAudio's decodeAudioData, and drawn as peaks, one canvas per channel (the caller left, the desks
// right), on the timeline's clock. No page state here: timeline.js keeps what was decoded.
import { withToken } from './api.js';

/**
 * Decoded at 8 kHz: plenty for peaks a pixel wide, and a sixth of the memory of the file's 48 kHz (a
 * minute of stereo is 3.8 MB of samples).
 */
const RATE = 8000;

/**
 * Recordings larger than this (about 20 minutes at the recorder's 0.8 MB a minute) play but are not drawn:
 * the browser decodes the whole file at 48 kHz before resampling it, hundreds of MB for a long call.
 */
export const MAX_DRAWN_BYTES = 16 * 1024 * 1024;

/** The recording's channels: { channels: [caller, agents] (Float32Array each), sampleRate }, or throws with the server's words. */
export async function loadWaveform(path) {
  const res = await fetch(withToken(path));
  if (!res.ok) {
    let error = null;
    try {
      error = (await res.json()).error;
    } catch {
      /* not JSON */
    }
    throw new Error(error ?? `HTTP ${res.status}`);
  }
  const bytes = await res.arrayBuffer();
  const ctx = new OfflineAudioContext(2, 1, RATE);
  const buffer = await ctx.decodeAudioData(bytes);
  const left = buffer.getChannelData(0);
  const right = buffer.numberOfChannels > 1 ? buffer.getChannelData(1) : left;
  let peak = 0;
  for (const ch of [left, right]) for (let i = 0; i < ch.length; i++) peak = Math.max(peak, Math.abs(ch[i]));
  return { channels: [left, right], sampleRate: buffer.sampleRate, peak };
}

/**
 * Draws one channel's peaks on `canvas` (sized to its box, sharp on high-DPI screens): each pixel column
 * the loudest sample of its slice of the axis [t0, t1] (epoch ms), the recording's first sample at
 * `startedAt`. Scaled to the recording's loudest sample, so quiet calls are visible too.
 */
export function drawWave(canvas, wave, channel, { startedAt, t0, t1 }) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const hgt = Math.max(1, Math.round(canvas.clientHeight * dpr));
  canvas.width = w;
  canvas.height = hgt;
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, w, hgt);
  g.fillStyle = getComputedStyle(canvas).color;
  const samples = wave.channels[channel];
  const perMs = wave.sampleRate / 1000;
  const scale = wave.peak > 0 ? 1 / wave.peak : 1;
  const mid = hgt / 2;
  let columns = 0;
  for (let x = 0; x < w; x++) {
    const from = Math.max(0, Math.floor((t0 + ((t1 - t0) * x) / w - startedAt) * perMs));
    const to = Math.min(samples.length, Math.ceil((t0 + ((t1 - t0) * (x + 1)) / w - startedAt) * perMs));
    let peak = 0;
    for (let i = from; i < to; i++) {
      const v = Math.abs(samples[i]);
      if (v > peak) peak = v;
    }
    const half = Math.min(1, peak * scale) * (mid - 1);
    if (half < 0.5) continue;
    g.fillRect(x, mid - half, 1, half * 2);
    columns++;
  }
  canvas.dataset.drawn = String(columns);
}
