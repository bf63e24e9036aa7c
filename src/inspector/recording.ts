/**
 * A past call's recording, served to the page's player (`GET /api/records/:id/recording`): the one file its
 * record names, found only inside the recordings directory (RECORDINGS_DIR), sent with HTTP Range support
 * (Chromium's `<audio>` asks for byte ranges to seek). Auth is the caller's (http.ts): the same token as the
 * rest of the inspector.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, join, resolve, sep } from 'node:path';
import type { CallView } from '../call/events.js';

/** A recording's file name as a call writes it (src/call/recording.ts), or any plain name: never a path. */
const PLAIN_NAME = /^[\w][\w.-]*$/;

export type RecordingFile = { ok: true; path: string; size: number; name: string } | { ok: false; status: number; error: string };

/**
 * The file a call's record names, if it is there: a plain file name (no directory, no `..`) whose real path
 * is inside `dir` (a symbolic link out of it is refused too). Otherwise why not, in words for the page.
 */
export async function recordingFile(dir: string | undefined, view: CallView): Promise<RecordingFile> {
  if (!dir) return { ok: false, status: 404, error: 'recordings are not served here (the inspector was started without RECORDINGS_DIR)' };
  const rec = view.recording;
  if (!rec) return { ok: false, status: 404, error: 'this call has no recording (it was not recorded: RECORD_CALLS was off, or its recording failed)' };
  const name = rec.file;
  if (!PLAIN_NAME.test(name) || name.includes('..') || basename(name) !== name) {
    return { ok: false, status: 404, error: 'the record names a recording outside the recordings directory: refused' };
  }
  const gone = { ok: false as const, status: 404, error: `the recording of this call is gone (${name} is no longer in the recordings directory: deleted after RECORDING_RETENTION_DAYS, or moved)` };
  let root: string;
  let path: string;
  try {
    root = await realpath(resolve(dir));
    path = await realpath(join(root, name));
  } catch {
    return gone;
  }
  if (!path.startsWith(root + sep)) return { ok: false, status: 404, error: 'the record names a recording outside the recordings directory: refused' };
  try {
    const s = await stat(path);
    if (!s.isFile()) return gone;
    return { ok: true, path, size: s.size, name };
  } catch {
    return gone;
  }
}

/**
 * The byte range asked for (`Range: bytes=a-b`, `bytes=a-`, `bytes=-n`) within `size` bytes: null when
 * none was asked for (or in a form this server does not answer, such as several ranges: the whole file is
 * sent), 'unsatisfiable' when it lies outside the file.
 */
export function byteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Sends the file whole (200) or the range asked for (206; 416 outside the file), as audio/ogg. */
export function sendRecording(req: IncomingMessage, res: ServerResponse, file: { path: string; size: number; name: string }, headers: Record<string, string>): void {
  const range = byteRange(req.headers.range, file.size);
  const common = {
    ...headers,
    'content-type': 'audio/ogg',
    'accept-ranges': 'bytes',
    'content-disposition': `inline; filename="${file.name}"`,
  };
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...common, 'content-range': `bytes */${file.size}`, 'content-length': 0 });
    res.end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: file.size - 1 };
  const length = Math.max(0, end - start + 1);
  res.writeHead(range ? 206 : 200, {
    ...common,
    'content-length': length,
    ...(range ? { 'content-range': `bytes ${start}-${end}/${file.size}` } : {}),
  });
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  const stream = createReadStream(file.path, { start, end });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}
