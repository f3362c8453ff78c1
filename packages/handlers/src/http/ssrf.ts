/** An IP address as bytes: 4 for IPv4, 16 for IPv6. */
export interface IpAddress {
  version: 4 | 6;
  bytes: number[];
}

/** A range of addresses and why an outbound request must not reach it. */
interface ForbiddenRange {
  prefix: number[];
  bits: number;
  reason: string;
}

function range(cidr: string, reason: string): ForbiddenRange {
  const [text = "", bits = ""] = cidr.split("/");
  const address = parseIpAddress(text);
  if (address === null || address === "invalid") throw new Error(`bad range ${cidr}`);
  return { prefix: address.bytes, bits: Number(bits), reason };
}

// Everything an outbound request from a worker could use to reach the worker's own network or
// a cloud's metadata service. Documentation and benchmarking nets are never real destinations,
// so refusing them costs nothing.
const FORBIDDEN_V4: ForbiddenRange[] = [
  range("0.0.0.0/8", "unspecified"),
  range("10.0.0.0/8", "private"),
  range("100.64.0.0/10", "shared address space (CGNAT)"),
  range("127.0.0.0/8", "loopback"),
  range("169.254.0.0/16", "link-local"),
  range("172.16.0.0/12", "private"),
  range("192.0.0.0/24", "IETF protocol assignments"),
  range("192.0.2.0/24", "documentation"),
  range("192.88.99.0/24", "6to4 relay anycast"),
  range("192.168.0.0/16", "private"),
  range("198.18.0.0/15", "benchmarking"),
  range("198.51.100.0/24", "documentation"),
  range("203.0.113.0/24", "documentation"),
  range("224.0.0.0/4", "multicast"),
  range("240.0.0.0/4", "reserved"),
  // A public address, but on Azure it is the host's WireServer, which hands out VM secrets.
  range("168.63.129.16/32", "cloud metadata"),
];

// Metadata services get their own reason even though their ranges are refused anyway: the
// message is what an operator reads when a task fails.
const METADATA = new Set(["169.254.169.254", "100.100.100.200", "192.0.0.192", "168.63.129.16", "fd00:ec2::254"]);

// Only global unicast (2000::/3) may be reached, minus the parts of it that are not real
// destinations; the prefixes that embed an IPv4 address are judged by that address instead.
const FORBIDDEN_V6: ForbiddenRange[] = [
  range("2001::/23", "IETF protocol assignments"),
  range("2001:db8::/32", "documentation"),
  range("3fff::/20", "documentation"),
];

const NAMED_V6: ForbiddenRange[] = [
  range("::/128", "unspecified"),
  range("::1/128", "loopback"),
  range("::/96", "IPv4-compatible (deprecated)"),
  range("64:ff9b:1::/48", "local-use NAT64"),
  range("100::/64", "discard-only"),
  range("fc00::/7", "unique local"),
  range("fe80::/10", "link-local"),
  range("fec0::/10", "site-local"),
  range("ff00::/8", "multicast"),
];

function inRange(bytes: number[], r: ForbiddenRange): boolean {
  let bits = r.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== ((r.prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

function startsWith(bytes: number[], prefix: number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

function v4Reason(bytes: number[]): string | null {
  if (METADATA.has(bytes.join("."))) return "cloud metadata";
  return FORBIDDEN_V4.find((r) => inRange(bytes, r))?.reason ?? null;
}

/** The IPv4 address an IPv6 address stands for (mapped, SIIT, NAT64, 6to4), if it carries one. */
function embeddedV4(bytes: number[]): number[] | null {
  const zeros = (n: number) => new Array<number>(n).fill(0);
  // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (SIIT translated).
  if (startsWith(bytes, [...zeros(10), 0xff, 0xff]) || startsWith(bytes, [...zeros(8), 0xff, 0xff, 0, 0])) {
    return bytes.slice(12);
  }
  // 64:ff9b::/96, the well-known NAT64 prefix: a gateway forwards it to the embedded address.
  if (startsWith(bytes, [0, 0x64, 0xff, 0x9b, ...zeros(8)])) return bytes.slice(12);
  // 2002::/16, 6to4: the relay tunnels to the IPv4 address in bits 16-48.
  if (startsWith(bytes, [0x20, 0x02])) return bytes.slice(2, 6);
  return null;
}

function v6Reason(bytes: number[]): string | null {
  const embedded = embeddedV4(bytes);
  if (embedded) {
    const reason = v4Reason(embedded);
    return reason === null ? null : `${reason} (embedded IPv4 ${embedded.join(".")})`;
  }
  if (METADATA.has(formatIpAddress({ version: 6, bytes }))) return "cloud metadata";
  const named = NAMED_V6.find((r) => inRange(bytes, r));
  if (named) return named.reason;
  if (((bytes[0] ?? 0) & 0xe0) !== 0x20) return "not global unicast";
  return FORBIDDEN_V6.find((r) => inRange(bytes, r))?.reason ?? null;
}

/**
 * Why the address must not be reached ("loopback", "private", ...), or null when it may.
 * Anything that is not an IP address (a name, a malformed number) is refused: the guard decides
 * on addresses only, and failing closed is the safe answer to input it cannot read.
 */
export function forbiddenReason(ip: string): string | null {
  const address = parseIpAddress(ip);
  if (address === null || address === "invalid") return "not an IP address";
  return address.version === 4 ? v4Reason(address.bytes) : v6Reason(address.bytes);
}

/** Whether an outbound request must not connect to this address, however it is written. */
export function isForbiddenAddress(ip: string): boolean {
  return forbiddenReason(ip) !== null;
}

function normaliseHostName(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

/** Whether `hostname` is in the allow-list: exact, case-insensitive, a trailing dot ignored. */
export function isAllowedHost(hostname: string, allowHosts: readonly string[]): boolean {
  const host = normaliseHostName(hostname);
  if (host === "") return false;
  return allowHosts.some((allowed) => normaliseHostName(allowed) === host);
}

/**
 * Why a URL whose host is an address literal is refused before any connection, or null (a
 * name, an allowed address, an allow-listed host). Names are judged later, by what they resolve to.
 */
export function literalHostRefusal(url: URL, allowHosts: readonly string[]): string | null {
  if (isAllowedHost(url.hostname, allowHosts)) return null;
  const address = parseIpAddress(url.hostname);
  if (address === null) return null;
  if (address === "invalid") return "a malformed IP address";
  const reason = address.version === 4 ? v4Reason(address.bytes) : v6Reason(address.bytes);
  return reason === null ? null : `${formatIpAddress(address)} is ${reason}`;
}

// --- parsing -----------------------------------------------------------------------------

/** One IPv4 part as the WHATWG URL parser reads it: 0x hex, leading-zero octal, else decimal. */
function ipv4Number(part: string): number | null {
  if (/^0[xX][0-9a-fA-F]*$/.test(part)) return part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
  if (/^0[0-7]+$/.test(part)) return Number.parseInt(part.slice(1), 8);
  if (/^(?:0|[1-9][0-9]*)$/.test(part)) return Number.parseInt(part, 10);
  return null;
}

/**
 * IPv4 in every form a URL host accepts (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`,
 * mixed): null when the host is a name, "invalid" when it ends in a number but is no address
 * (the URL parser rejects those; the guard refuses them).
 */
function parseIpv4(host: string): IpAddress | null | "invalid" {
  const parts = host.split(".");
  if (parts.length > 1 && parts.at(-1) === "") parts.pop();
  const last = parts.at(-1) ?? "";
  // The WHATWG rule: a host is IPv4 exactly when its last label is a number.
  if (!/^[0-9]+$/.test(last) && ipv4Number(last) === null) return null;
  if (parts.length > 4) return "invalid";
  const numbers = parts.map(ipv4Number);
  if (numbers.some((n) => n === null)) return "invalid";
  const values = numbers as number[];
  const tail = values.pop() ?? 0;
  if (values.some((n) => n > 255) || tail >= 256 ** (4 - values.length)) return "invalid";
  const bytes = [...values];
  for (let i = 3 - values.length; i >= 0; i--) bytes.push(Math.floor(tail / 256 ** i) % 256);
  return { version: 4, bytes };
}

/** Strict dotted decimal, the only IPv4 form allowed inside an IPv6 address. */
function dottedQuad(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(?:0|[1-9][0-9]{0,2})$/.test(p))) return null;
  const bytes = parts.map(Number);
  return bytes.every((b) => b <= 255) ? bytes : null;
}

/** Hex groups separated by `:`; the last may be dotted IPv4 when it ends the address. */
function hexGroups(text: string, endsAddress: boolean): number[] | null {
  if (text === "") return [];
  const out: number[] = [];
  const groups = text.split(":");
  for (const [i, group] of groups.entries()) {
    if (endsAddress && i === groups.length - 1 && group.includes(".")) {
      const quad = dottedQuad(group);
      if (!quad) return null;
      out.push(((quad[0] ?? 0) << 8) | (quad[1] ?? 0), ((quad[2] ?? 0) << 8) | (quad[3] ?? 0));
    } else if (/^[0-9a-f]{1,4}$/.test(group)) {
      out.push(Number.parseInt(group, 16));
    } else {
      return null;
    }
  }
  return out;
}

/** IPv6, with or without brackets, `::` compression, a trailing dotted IPv4 and a zone id. */
function parseIpv6(host: string): IpAddress | null {
  let h = host.toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  // The zone (`%eth0`, `%25eth0` in a URL) picks an interface, not an address.
  const zone = h.indexOf("%");
  if (zone !== -1) h = h.slice(0, zone);
  const halves = h.split("::");
  if (halves.length > 2) return null;
  const head = hexGroups(halves[0] ?? "", halves.length === 1);
  const tail = halves.length === 2 ? hexGroups(halves[1] ?? "", true) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return { version: 6, bytes: groups.flatMap((g) => [g >> 8, g & 0xff]) };
}

/**
 * Reads `host` as an IP address in any form a URL or a resolver may give it; null for a name,
 * "invalid" for something numeric that is no address.
 */
export function parseIpAddress(host: string): IpAddress | null | "invalid" {
  const h = host.trim();
  if (h.includes(":")) return parseIpv6(h) ?? "invalid";
  return parseIpv4(h);
}

/** The canonical text of an address: dotted decimal, or RFC 5952 IPv6. */
export function formatIpAddress(address: IpAddress): string {
  if (address.version === 4) return address.bytes.join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((address.bytes[i] ?? 0) << 8) | (address.bytes[i + 1] ?? 0));
  // The longest run of two or more zero groups becomes `::` (the first one on a tie).
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best === -1) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`;
}
