import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';

import ipaddr from 'ipaddr.js';

/** Resolves a host name to every address it has (A and AAAA), as `dns.lookup(…, {all: true})`. */
export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** What an address is: its range (ipaddr.js's names, or ours) and whether a webhook may reach it. */
export interface AddressClass {
  /** The address as parsed (canonical form). */
  address: string;
  /** `unicast` for a global address; else the special range, e.g. `loopback`, `ipv4Mapped→loopback`. */
  range: string;
  allowed: boolean;
}

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');
/** IPv4-compatible addresses (RFC 4291, deprecated): `::a.b.c.d`, which ipaddr.js calls unicast. */
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

function ipv4From(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/**
 * The IPv4 address an IPv6 address carries, for the forms that route to it: IPv4-mapped
 * (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64's
 * well-known prefix (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`). Null for any other.
 */
function embeddedIpv4(v6: ipaddr.IPv6, range: string): ipaddr.IPv4 | null {
  const p = v6.parts;
  if (range === 'ipv4Mapped' || range === 'rfc6145') return ipv4From(p[6]!, p[7]!);
  if (range === 'rfc6052' && v6.match(NAT64_WELL_KNOWN)) return ipv4From(p[6]!, p[7]!);
  if (range === '6to4') return ipv4From(p[1]!, p[2]!);
  if (range === 'unicast' && v6.match(IPV4_COMPATIBLE)) return ipv4From(p[6]!, p[7]!);
  return null;
}

/**
 * Classifies an IP address with ipaddr.js. Only global unicast may be a webhook target: IPv4
 * outside every special range (loopback, RFC 1918, link-local and the cloud metadata address,
 * CGNAT, multicast, broadcast, reserved, documentation…), IPv6 inside 2000::/3 and outside every
 * special range (teredo, documentation, benchmarking, ORCHID…). IPv6 forms that carry an IPv4
 * address are judged by that address. Anything that does not parse is refused.
 */
export function classifyAddress(text: string): AddressClass {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(text.replace(/^\[|\]$/g, ''));
  } catch {
    return { address: text, range: 'invalid', allowed: false };
  }
  const range = parsed.range();
  if (parsed.kind() === 'ipv4') return { address: parsed.toString(), range, allowed: range === 'unicast' };
  const v6 = parsed as ipaddr.IPv6;
  const inner = embeddedIpv4(v6, range);
  if (inner) {
    const innerRange = inner.range();
    const label = range === 'unicast' ? 'ipv4Compatible' : range;
    return { address: v6.toString(), range: `${label}→${innerRange}`, allowed: innerRange === 'unicast' };
  }
  const global = range === 'unicast' && v6.match(GLOBAL_UNICAST_V6);
  return {
    address: v6.toString(),
    range: global || range !== 'unicast' ? range : 'unallocated',
    allowed: global,
  };
}

/** Why `address` may not be a webhook target (null when it may). */
export function addressRefusal(address: string, allowPrivate: boolean): string | null {
  if (allowPrivate) return null;
  const c = classifyAddress(address);
  return c.allowed ? null : `${c.address} is not a public address (${c.range})`;
}

/** A connection refused by the webhook address policy (never retried: the answer is the same). */
export class RefusedAddress extends Error {
  readonly code = 'EWEBHOOKADDRESS';
}

/** Why a URL cannot be a webhook whatever it points at (scheme, credentials), or null. */
export function urlShapeProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be http or https';
  if (parsed.username || parsed.password) return 'must not carry credentials';
  return null;
}

/** The host of a URL without IPv6 brackets. */
export const urlHost = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '');

/**
 * Why a webhook URL may not be called (null when it may): its shape, and every address of its
 * host. A name is resolved and refused when any of its addresses is not public. Delivery checks
 * again where it connects (`guardedLookup`), so a name that changes its answer after this check
 * is caught there.
 */
export async function webhookUrlProblem(
  url: string,
  allowPrivate: boolean,
  resolve: Resolve = systemResolve,
): Promise<string | null> {
  const shape = urlShapeProblem(url);
  if (shape || allowPrivate) return shape;
  const host = urlHost(new URL(url));
  if (host === 'localhost' || host.endsWith('.localhost')) return 'points to a loopback address (localhost)';
  if (isIP(host)) {
    const refusal = addressRefusal(host, false);
    return refusal && `points to ${refusal}`;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(host);
  } catch {
    return `host '${host}' does not resolve`;
  }
  if (addresses.length === 0) return `host '${host}' does not resolve`;
  for (const a of addresses) {
    const refusal = addressRefusal(a.address, false);
    if (refusal) return `host '${host}' resolves to ${refusal}`;
  }
  return null;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `net.connect` (an HTTP agent's option) that resolves with `resolve` and hands
 * the connection only addresses the policy allows: what was checked is what is connected to. A
 * name with any refused address is refused whole (one answer public and one private is how a
 * rebinding attack looks).
 */
export function guardedLookup(allowPrivate: boolean, resolve: Resolve = systemResolve) {
  return (hostname: string, options: { all?: boolean } | number, callback: LookupCallback): void => {
    const all = typeof options === 'object' && options !== null && options.all === true;
    resolve(hostname).then(
      (addresses) => {
        if (addresses.length === 0) {
          callback(
            Object.assign(new Error(`host '${hostname}' does not resolve`), { code: 'ENOTFOUND' }),
            '',
          );
          return;
        }
        for (const a of addresses) {
          const refusal = addressRefusal(a.address, allowPrivate);
          if (refusal) return callback(new RefusedAddress(`host '${hostname}' resolves to ${refusal}`), '');
        }
        if (all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}
