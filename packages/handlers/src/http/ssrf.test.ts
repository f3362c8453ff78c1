import { describe, expect, test } from "bun:test";
import {
  forbiddenReason,
  formatIpAddress,
  isAllowedHost,
  isForbiddenAddress,
  literalHostRefusal,
  parseIpAddress,
} from "./ssrf.ts";

// [as written, what it is]
const FORBIDDEN: [string, string][] = [
  // IPv4, plain
  ["0.0.0.0", "unspecified"],
  ["0.1.2.3", "unspecified"],
  ["127.0.0.1", "loopback"],
  ["127.255.255.254", "loopback"],
  ["10.0.0.1", "private"],
  ["10.255.255.255", "private"],
  ["172.16.0.1", "private"],
  ["172.31.255.255", "private"],
  ["192.168.1.1", "private"],
  ["169.254.0.1", "link-local"],
  ["169.254.169.254", "cloud metadata"],
  ["100.64.0.1", "shared address space (CGNAT)"],
  ["100.127.255.255", "shared address space (CGNAT)"],
  ["100.100.100.200", "cloud metadata"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["255.255.255.255", "reserved"],
  ["240.0.0.1", "reserved"],
  ["198.18.0.1", "benchmarking"],
  ["198.19.255.255", "benchmarking"],
  ["192.0.0.8", "IETF protocol assignments"],
  ["192.0.0.192", "cloud metadata"],
  ["192.0.2.1", "documentation"],
  ["198.51.100.7", "documentation"],
  ["203.0.113.9", "documentation"],
  ["168.63.129.16", "cloud metadata"],
  // IPv4, every other way a URL host may write it
  ["2130706433", "loopback"],
  ["0x7f000001", "loopback"],
  ["0X7F000001", "loopback"],
  ["0177.0.0.1", "loopback"],
  ["0177.0000.0000.0001", "loopback"],
  ["127.1", "loopback"],
  ["127.0.1", "loopback"],
  ["10.1", "private"],
  ["0x7f.1", "loopback"],
  ["0x7f.0.0.0x1", "loopback"],
  ["0xa9.0xfe.0xa9.0xfe", "cloud metadata"],
  ["0251.0376.0251.0376", "cloud metadata"],
  ["169.254.43518", "cloud metadata"],
  ["2852039166", "cloud metadata"],
  ["0xA9FEA9FE", "cloud metadata"],
  ["0", "unspecified"],
  ["0x", "unspecified"],
  ["127.0.0.1.", "loopback"],
  ["0xc0.0250.1", "private"],
  // IPv6
  ["::", "unspecified"],
  ["::1", "loopback"],
  ["[::1]", "loopback"],
  ["0:0:0:0:0:0:0:1", "loopback"],
  ["0000:0000:0000:0000:0000:0000:0000:0001", "loopback"],
  ["[::ffff:127.0.0.1]", "loopback (embedded IPv4 127.0.0.1)"],
  ["::ffff:7f00:1", "loopback (embedded IPv4 127.0.0.1)"],
  ["::FFFF:a9fe:a9fe", "cloud metadata (embedded IPv4 169.254.169.254)"],
  ["::ffff:10.0.0.1", "private (embedded IPv4 10.0.0.1)"],
  ["::ffff:0:127.0.0.1", "loopback (embedded IPv4 127.0.0.1)"],
  ["::127.0.0.1", "IPv4-compatible (deprecated)"],
  ["::8.8.8.8", "IPv4-compatible (deprecated)"],
  ["64:ff9b::127.0.0.1", "loopback (embedded IPv4 127.0.0.1)"],
  ["64:ff9b::a9fe:a9fe", "cloud metadata (embedded IPv4 169.254.169.254)"],
  ["64:ff9b:1::1", "local-use NAT64"],
  ["2002:7f00:1::", "loopback (embedded IPv4 127.0.0.1)"],
  ["2002:a9fe:a9fe::1", "cloud metadata (embedded IPv4 169.254.169.254)"],
  ["2002:c0a8:0101::", "private (embedded IPv4 192.168.1.1)"],
  ["fe80::1", "link-local"],
  ["fe80::1%eth0", "link-local"],
  ["[fe80::1%25eth0]", "link-local"],
  ["febf::1", "link-local"],
  ["fec0::1", "site-local"],
  ["fc00::1", "unique local"],
  ["fd12:3456::1", "unique local"],
  ["fd00:ec2::254", "cloud metadata"],
  ["ff02::1", "multicast"],
  ["ff05::1:3", "multicast"],
  ["100::1", "discard-only"],
  ["2001:db8::1", "documentation"],
  ["3fff::1", "documentation"],
  ["2001::1", "IETF protocol assignments"],
  ["2001:2::1", "IETF protocol assignments"],
  ["4000::1", "not global unicast"],
  ["::2", "IPv4-compatible (deprecated)"],
];

const ALLOWED = [
  "8.8.8.8",
  "1.1.1.1",
  "93.184.215.14",
  "172.15.255.255",
  "172.32.0.1",
  "100.63.255.255",
  "100.128.0.1",
  "169.255.0.1",
  "223.255.255.255",
  "198.17.255.255",
  "198.20.0.1",
  "2606:4700:4700::1111",
  "2001:4860:4860::8888",
  "[2606:4700:4700::1111]",
  "::ffff:8.8.8.8",
  "64:ff9b::8.8.8.8",
  "2002:0808:0808::1",
  "0x08080808",
  "134744072",
];

describe("isForbiddenAddress", () => {
  test.each(FORBIDDEN)("%s is forbidden (%s)", (ip, reason) => {
    expect(isForbiddenAddress(ip)).toBe(true);
    expect(forbiddenReason(ip)).toBe(reason);
  });

  test.each(ALLOWED)("%s is allowed", (ip) => {
    expect(forbiddenReason(ip)).toBeNull();
    expect(isForbiddenAddress(ip)).toBe(false);
  });

  test.each([
    "example.com",
    "",
    "256.0.0.1",
    "1.2.3.4.5",
    "4294967296",
    "08.0.0.1",
    "1.2.3.0x100",
    ":::1",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "::ffff:127.0.0.01",
    "12345::1",
    "1.2.3.4::",
  ])("%p is not an address, so it is refused", (text) => {
    expect(isForbiddenAddress(text)).toBe(true);
    expect(forbiddenReason(text)).toBe("not an IP address");
  });
});

describe("parseIpAddress", () => {
  test.each([
    ["2130706433", "127.0.0.1"],
    ["0x7f.1", "127.0.0.1"],
    ["0177.0.0.1", "127.0.0.1"],
    ["10.1", "10.0.0.1"],
    ["192.168.257", "192.168.1.1"],
    ["0xffffffff", "255.255.255.255"],
    ["[::ffff:127.0.0.1]", "::ffff:7f00:1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["fe80::1%25eth0", "fe80::1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ])("%s reads as %s", (text, canonical) => {
    const address = parseIpAddress(text);
    if (address === null || address === "invalid") throw new Error(`${text} did not parse`);
    expect(formatIpAddress(address)).toBe(canonical);
  });

  test("names are names, and numeric look-alikes that are no address are invalid", () => {
    for (const name of ["localhost", "example.com", "1.2.3.example", "0x7f.example", "a1", "metadata"]) {
      expect(parseIpAddress(name)).toBeNull();
    }
    for (const bad of ["1.2.3.256", "example.1", "1.2.3.4.5", "0x1g.1"]) {
      expect(parseIpAddress(bad)).toBe("invalid");
    }
  });

  test("agrees with the WHATWG URL parser on every IPv4 form", () => {
    for (const host of ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "10.1", "0x7f.1", "0xc0.0250.1"]) {
      const address = parseIpAddress(host);
      if (address === null || address === "invalid") throw new Error(`${host} did not parse`);
      expect(formatIpAddress(address)).toBe(new URL(`http://${host}/`).hostname);
    }
  });
});

describe("isAllowedHost", () => {
  test("matches exactly, ignoring case and a trailing dot", () => {
    const allow = ["localhost", "Internal.Example.com."];
    expect(isAllowedHost("localhost", allow)).toBe(true);
    expect(isAllowedHost("LOCALHOST", allow)).toBe(true);
    expect(isAllowedHost("localhost.", allow)).toBe(true);
    expect(isAllowedHost("internal.example.com", allow)).toBe(true);
    expect(isAllowedHost("INTERNAL.example.COM.", allow)).toBe(true);
  });

  test("no suffixes, prefixes, wildcards or address equivalents", () => {
    const allow = ["localhost", "example.com", "127.0.0.1", "*.wild.test"];
    expect(isAllowedHost("sub.example.com", allow)).toBe(false);
    expect(isAllowedHost("example.com.evil.test", allow)).toBe(false);
    expect(isAllowedHost("localhost.localdomain", allow)).toBe(false);
    expect(isAllowedHost("a.wild.test", allow)).toBe(false);
    expect(isAllowedHost("127.0.0.2", allow)).toBe(false);
    expect(isAllowedHost("127.0.0.1", allow)).toBe(true);
    expect(isAllowedHost("", allow)).toBe(false);
    expect(isAllowedHost("localhost", [])).toBe(false);
    expect(isAllowedHost("", [""])).toBe(false);
  });

  test("an IPv6 host matches with or without brackets", () => {
    expect(isAllowedHost("[::1]", ["::1"])).toBe(true);
    expect(isAllowedHost("::1", ["[::1]"])).toBe(true);
  });
});

describe("literalHostRefusal", () => {
  const refusal = (url: string, allow: string[] = []) => literalHostRefusal(new URL(url), allow);

  test("refuses a forbidden literal in any spelling the URL parser accepts", () => {
    for (const url of [
      "http://127.0.0.1/",
      "http://2130706433/",
      "http://0x7f.1:8080/",
      "http://0177.0.0.1/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://[64:ff9b::a9fe:a9fe]/",
      "http://169.254.169.254/latest/meta-data/",
    ]) {
      expect(refusal(url)).toMatch(/ is /);
    }
    expect(refusal("http://2130706433/")).toBe("127.0.0.1 is loopback");
  });

  test("leaves names to the resolver and lets public and allow-listed hosts through", () => {
    expect(refusal("http://localhost/")).toBeNull();
    expect(refusal("https://example.com/")).toBeNull();
    expect(refusal("https://8.8.8.8/")).toBeNull();
    expect(refusal("http://127.0.0.1/", ["127.0.0.1"])).toBeNull();
    expect(refusal("http://[::1]:3000/", ["::1"])).toBeNull();
  });
});
