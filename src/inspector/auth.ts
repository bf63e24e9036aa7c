/**
 * Who may talk to the inspector: the token (`?token=`, `Authorization: Bearer`, or the HttpOnly session
 * cookie a page gets when it is opened with `?token=`), and the Origin/Host checks that keep a foreign
 * page (cross-site WebSocket hijacking, DNS rebinding) away from a loopback server. Secrets are compared
 * through their SHA-256 digests with a timing-safe compare.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export const SESSION_COOKIE = 'inspector_session';

export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** How a request proved the token: no token is set (`open`), via query/header (`token`), the cookie, or not at all. */
export type AuthResult = 'open' | 'token' | 'cookie' | null;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

export class Auth {
  private readonly tokenDigest: Buffer | null;
  /** The cookie value: derived from the token, so the token itself never travels back. */
  private readonly sessionValue: string | null;
  private readonly sessionDigest: Buffer | null;

  /** `host`: the address the server listens on (a tokenless server answers only to loopback names and it). */
  constructor(
    private readonly token: string | undefined,
    private readonly host: string,
  ) {
    this.tokenDigest = token ? sha256(token) : null;
    this.sessionValue = token ? createHmac('sha256', token).update('switchboard-inspector-session').digest('base64url') : null;
    this.sessionDigest = this.sessionValue ? sha256(this.sessionValue) : null;
  }

  check(req: IncomingMessage, url: URL): AuthResult {
    if (!this.token) return 'open';
    if (same(url.searchParams.get('token') ?? undefined, this.tokenDigest)) return 'token';
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && same(auth.slice(7).trim(), this.tokenDigest)) return 'token';
    if (same(cookieOf(req, SESSION_COOKIE), this.sessionDigest)) return 'cookie';
    return null;
  }

  /** The `set-cookie` header for a page opened with the token (none when no token is set). */
  sessionCookie(): string | null {
    return this.sessionValue ? `${SESSION_COOKIE}=${this.sessionValue}; HttpOnly; SameSite=Strict; Path=/` : null;
  }

  /**
   * Browser-borne attacks on a loopback server: a foreign page's request carries a foreign Origin
   * (cross-site WebSocket hijacking, form posts), and a DNS-rebound name carries a foreign Host.
   */
  sameOrigin(req: IncomingMessage): boolean {
    const hostHeader = req.headers.host;
    if (!hostHeader) return false;
    const origin = req.headers.origin;
    if (origin !== undefined) {
      try {
        if (new URL(origin).host !== hostHeader) return false; // also refuses the opaque origin "null"
      } catch {
        return false;
      }
    }
    if (!this.token) {
      let hostname: string;
      try {
        hostname = new URL(`http://${hostHeader}`).hostname;
      } catch {
        return false;
      }
      if (!isLoopbackHost(hostname) && hostname.toLowerCase() !== this.host.toLowerCase()) return false;
    }
    return true;
  }
}

function same(given: string | undefined, digest: Buffer | null): boolean {
  return !!digest && given !== undefined && timingSafeEqual(sha256(given), digest);
}
