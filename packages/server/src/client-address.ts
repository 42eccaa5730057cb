/**
 * Which address a request comes from, for per-address limits and logs: the
 * TCP peer, or the left-most `X-Forwarded-For` entry when the peer is a
 * proxy listed in `--trust-proxy`. A header from any other peer is ignored,
 * so a client cannot pick the address it is counted under.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { Conn } from 'wskit';

/** Resolves the client address of requests; build one with {@link clientAddressResolver}. */
export type ClientAddressResolver = (req: IncomingMessage) => string;

/**
 * clientAddressResolver builds the resolver for `trustProxy`, a list of
 * CIDR blocks (`10.0.0.0/8`, `::1/128`) or single addresses. Throws
 * RangeError naming `--trust-proxy` and the entry when one is malformed.
 */
export function clientAddressResolver(trustProxy: readonly string[] = []): ClientAddressResolver {
  const trusted = new BlockList();
  for (const entry of trustProxy) addTrusted(trusted, entry);
  if (trustProxy.length === 0) return peerAddress;
  return (req) => {
    const peer = peerAddress(req);
    if (!isTrusted(trusted, peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim();
    return first !== undefined && isIP(stripZone(first)) !== 0 ? normalize(stripZone(first)) : peer;
  };
}

/** The TCP peer's address, with an IPv4-mapped IPv6 address written as IPv4. */
function peerAddress(req: IncomingMessage): string {
  return normalize(req.socket.remoteAddress ?? 'unknown');
}

/**
 * peerAddressOf gives the address that {@link ClientAddressResolver} gives
 * for a request from `conn`'s TCP peer, read back from
 * `conn.remoteAddress` (`127.0.0.1:53412`, `[::1]:53412`): the host without
 * port or brackets, IPv4-mapped IPv6 written as IPv4, `unknown` when the
 * connection never had a peer address. The server counts an open WebSocket
 * under it at close without keeping a string per connection.
 */
export function peerAddressOf(conn: Conn): string {
  const remote = conn.remoteAddress;
  if (remote === '') return 'unknown';
  const host = remote.startsWith('[') ? remote.slice(1, remote.lastIndexOf(']')) : remote.slice(0, remote.lastIndexOf(':'));
  return normalize(host);
}

function addTrusted(list: BlockList, entry: string): void {
  const bad = () => new RangeError(`Invalid --trust-proxy ${JSON.stringify(entry)}: use an address or a CIDR block, like 10.0.0.0/8 or ::1/128`);
  const [address = '', prefixText, extra] = entry.trim().split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) throw bad();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefixText === undefined) {
    list.addAddress(address, type);
    return;
  }
  const prefix = Number(prefixText);
  if (!/^\d+$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) throw bad();
  list.addSubnet(address, prefix, type);
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function stripZone(address: string): string {
  const percent = address.indexOf('%');
  return percent < 0 ? address : address.slice(0, percent);
}

/** `::ffff:127.0.0.1` → `127.0.0.1`, so one client is one key whichever way it connected. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
