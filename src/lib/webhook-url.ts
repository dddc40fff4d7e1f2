/**
 * @module
 * Where a webhook may be delivered: the guard against a customer pointing Switchyard's own
 * requests at a network it should never reach (server-side request forgery). A URL is judged
 * after the WHATWG parser has normalised it, the form `fetch` will use, so that every spelling of
 * an address (decimal, hex, octal or short IPv4, IPv6 with an IPv4 inside, a trailing dot) is
 * judged as the address it is, not as the text it was written as.
 *
 * A host name is judged as written; what it resolves to at delivery time is not known here (DNS
 * rebinding). Workers' outbound requests leave from Cloudflare's network, not from a private one,
 * which bounds what a public name that resolves to a private address can reach; the delivery side
 * must still not follow redirects, which would bypass this check.
 */

export type WebhookUrlVerdict = { ok: true; url: string } | { ok: false; reason: string };
export type WebhookEnvironment = 'development' | 'test' | 'production';

export const MAX_WEBHOOK_URL_LENGTH = 2048;

type Ipv4Range = readonly [base: number, prefixLength: number, what: string];

// Refused in every environment (loopback is judged apart: allowed outside production).
const REFUSED_IPV4: readonly Ipv4Range[] = [
  [ipv4(0, 0, 0, 0), 8, 'a "this network" address'],
  [ipv4(10, 0, 0, 0), 8, 'a private address'],
  [ipv4(100, 64, 0, 0), 10, 'a shared (CGNAT) address'],
  [ipv4(169, 254, 0, 0), 16, 'a link-local (cloud metadata) address'],
  [ipv4(172, 16, 0, 0), 12, 'a private address'],
  [ipv4(192, 0, 0, 0), 24, 'an IETF protocol address'],
  [ipv4(192, 0, 2, 0), 24, 'a documentation address'],
  [ipv4(192, 168, 0, 0), 16, 'a private address'],
  [ipv4(198, 18, 0, 0), 15, 'a benchmarking address'],
  [ipv4(198, 51, 100, 0), 24, 'a documentation address'],
  [ipv4(203, 0, 113, 0), 24, 'a documentation address'],
  [ipv4(224, 0, 0, 0), 4, 'a multicast address'],
  [ipv4(240, 0, 0, 0), 4, 'a reserved address'],
];
const LOOPBACK_IPV4: Ipv4Range = [ipv4(127, 0, 0, 0), 8, 'a loopback address'];

/** Names that are never public: a suffix match on the name without its trailing dot. */
const INTERNAL_SUFFIXES = ['.internal', '.local', '.localdomain', '.home.arpa', '.intranet', '.lan', '.corp'];
const INTERNAL_NAMES = new Set(['metadata', 'instance-data', 'metadata.google.internal']);

function ipv4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
}

function inRange(address: number, [base, prefixLength]: Ipv4Range): boolean {
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return (address & mask) >>> 0 === base;
}

/** The WHATWG parser prints every IPv4 host as four decimal parts; anything else is a name. */
function parseIpv4(host: string): number | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!match) return undefined;
  const parts = match.slice(1).map(Number);
  if (parts.some((part) => part > 255)) return undefined;
  const [a = 0, b = 0, c = 0, d = 0] = parts;
  return ipv4(a, b, c, d);
}

/** The eight 16-bit groups of an IPv6 address (as the WHATWG parser prints it, without brackets). */
function parseIpv6(text: string): number[] | undefined {
  let body = text;
  let tail: number[] = [];
  const dotted = /^(.*:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(body);
  if (dotted) {
    const address = parseIpv4(dotted[2] ?? '');
    if (address === undefined) return undefined;
    tail = [address >>> 16, address & 0xffff];
    body = dotted[1] === '::' ? '::' : (dotted[1] ?? '').replace(/:$/, '');
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string | undefined) => (part ? part.split(':') : []);
  const head = groupsOf(halves[0]);
  const rest = groupsOf(halves[1]);
  if ([...head, ...rest].some((group) => !/^[0-9a-f]{1,4}$/i.test(group))) return undefined;
  const missing = 8 - head.length - rest.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const zeros = halves.length === 2 ? Array.from({ length: missing }, () => '0') : [];
  return [...head, ...zeros, ...rest].map((group) => Number.parseInt(group, 16)).concat(tail);
}

type HostVerdict = { kind: 'public' } | { kind: 'loopback' } | { kind: 'refused'; what: string };

function judgeIpv4(address: number): HostVerdict {
  if (inRange(address, LOOPBACK_IPV4)) return { kind: 'loopback' };
  const refused = REFUSED_IPV4.find((range) => inRange(address, range));
  return refused ? { kind: 'refused', what: refused[2] } : { kind: 'public' };
}

function judgeIpv6(groups: number[], environment: WebhookEnvironment): HostVerdict {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  const embedded = ((g6 << 16) >>> 0) + g7;
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (upperZero && g5 === 0 && g6 === 0 && g7 === 0) return { kind: 'refused', what: 'the unspecified address' };
  if (upperZero && g5 === 0 && g6 === 0 && g7 === 1) return { kind: 'loopback' };
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an
  // IPv4 address, judged as that address. In production they are refused even when it is public:
  // a receiver has an IPv4 or a native IPv6 address to use, and these forms exist mostly to slip
  // an address past checks that look only at one family.
  const mapped = upperZero && g5 === 0xffff;
  const compatible = upperZero && g5 === 0;
  const nat64 = g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0;
  if (mapped || compatible || nat64) {
    const inner = judgeIpv4(embedded);
    if (inner.kind !== 'public')
      return inner.kind === 'refused' ? { kind: 'refused', what: `${inner.what} inside an IPv6 address` } : inner;
    return environment === 'production' ? { kind: 'refused', what: 'an IPv4 address written as IPv6' } : { kind: 'public' };
  }
  if ((g0 & 0xfe00) === 0xfc00) return { kind: 'refused', what: 'a private (unique local) address' };
  if ((g0 & 0xffc0) === 0xfe80) return { kind: 'refused', what: 'a link-local address' };
  if ((g0 & 0xff00) === 0xff00) return { kind: 'refused', what: 'a multicast address' };
  if (g0 === 0x2001 && g1 === 0x0db8) return { kind: 'refused', what: 'a documentation address' };
  if (g0 === 0x0100 && g1 === 0 && g2 === 0 && g3 === 0) return { kind: 'refused', what: 'a discard address' };
  return { kind: 'public' };
}

function judgeName(name: string, environment: WebhookEnvironment): HostVerdict {
  if (name === 'localhost' || name.endsWith('.localhost')) return { kind: 'loopback' };
  if (INTERNAL_NAMES.has(name) || INTERNAL_SUFFIXES.some((suffix) => name.endsWith(suffix))) {
    return { kind: 'refused', what: 'an internal name' };
  }
  if (environment === 'production' && !name.includes('.'))
    return { kind: 'refused', what: 'a name with no domain, which cannot be public' };
  return { kind: 'public' };
}

function judgeHost(hostname: string, environment: WebhookEnvironment): HostVerdict {
  if (hostname.startsWith('[') && hostname.endsWith(']')) {
    const groups = parseIpv6(hostname.slice(1, -1));
    return groups ? judgeIpv6(groups, environment) : { kind: 'refused', what: 'an IPv6 address that cannot be read' };
  }
  const address = parseIpv4(hostname);
  if (address !== undefined) return judgeIpv4(address);
  // One trailing dot names the same host (an absolute name): `localhost.` is localhost.
  return judgeName(hostname.replace(/\.$/, ''), environment);
}

/** Whether `input` may be stored as a webhook endpoint's URL in `environment`, and its normalised form. */
export function checkWebhookUrl(input: string, environment: WebhookEnvironment): WebhookUrlVerdict {
  if (input.length > MAX_WEBHOOK_URL_LENGTH)
    return { ok: false, reason: `A webhook URL may have at most ${MAX_WEBHOOK_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return { ok: false, reason: 'Not an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, reason: `Webhook URLs must use https, not ${url.protocol.replace(/:$/, '')}` };
  }
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'A webhook URL must not carry a user name or password' };
  if (url.hash !== '' || input.includes('#')) return { ok: false, reason: 'A webhook URL must not have a fragment (#…)' };
  // The WHATWG parser keeps a stray `%` as it is; RFC 3986 (the `uri` format the contract promises) does not allow one.
  if (/%(?![0-9A-Fa-f]{2})/.test(url.href))
    return { ok: false, reason: 'A webhook URL must not hold a % that does not start a %XX escape' };
  const host = judgeHost(url.hostname, environment);
  if (host.kind === 'refused') return { ok: false, reason: `The host ${url.hostname} is ${host.what}` };
  if (host.kind === 'loopback') {
    if (environment === 'production') return { ok: false, reason: `The host ${url.hostname} is a loopback address, refused in production` };
    return { ok: true, url: url.href };
  }
  if (url.protocol === 'http:') {
    return {
      ok: false,
      reason:
        environment === 'production'
          ? 'Webhook URLs must use https in production'
          : 'Webhook URLs must use https; http is allowed only to a loopback host outside production',
    };
  }
  return { ok: true, url: url.href };
}
