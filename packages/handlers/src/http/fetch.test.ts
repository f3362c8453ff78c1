import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import type { LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import net from "node:net";
import type { TLSSocket } from "node:tls";
import zlib from "node:zlib";
import { TaskFailure } from "../failure.ts";
import { createSafeFetch, type Resolver } from "./fetch.ts";
import type { SafeFetchOptions } from "./types.ts";

// A self-signed certificate for `pinned.test` (valid until 2126), only for the HTTPS tests.
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg66UGQ9EIEYcau9su
oE6lfgB0lzguXY5cowFUUw2BCA2hRANCAARl3g1KxOrEnKzOjGk8ZYHTRWnqjLBj
JC+Sh+5+IWPHsG7SbgYE6GT4gQlabbu53ol9XcyCwxn4eA5pSpC/bHWY
-----END PRIVATE KEY-----
`;
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIULDsSfxOkfuWjqREGs/W3dM91xnQwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLcGlubmVkLnRlc3QwIBcNMjYxMTI3MDE0MDA5WhgPMjEyNjEx
MDMwMTQwMDlaMBYxFDASBgNVBAMMC3Bpbm5lZC50ZXN0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEZd4NSsTqxJyszoxpPGWB00Vp6oywYyQvkofufiFjx7Bu0m4G
BOhk+IEJWm27ud6JfV3MgsMZ+HgOaUqQv2x1mKNrMGkwHQYDVR0OBBYEFJLgU3y3
jTHTVUccB0Lqmww7b0y/MB8GA1UdIwQYMBaAFJLgU3y3jTHTVUccB0Lqmww7b0y/
MA8GA1UdEwEB/wQFMAMBAf8wFgYDVR0RBA8wDYILcGlubmVkLnRlc3QwCgYIKoZI
zj0EAwIDSAAwRQIhAOgd1C19ysnkZUNlO/dnyYGTRzqK8NI9yr/CB1xPfmzdAiAM
MQCNaHa2/R4olbyVSdnrTaC0mhBqLNi4FzEVUana+g==
-----END CERTIFICATE-----
`;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  servername?: string | false | null;
}

/** Everything the test servers were asked, to prove a refused request never arrived. */
let seen: Seen[] = [];
let port = 0;
let tlsPort = 0;
const hanging: http.ServerResponse[] = [];

function route(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
  const url = new URL(req.url ?? "/", "http://x");
  const to = url.searchParams.get("to") ?? "";
  switch (url.pathname) {
    case "/json":
      res.writeHead(200, { "Content-Type": "application/json", "X-Custom": "yes" });
      return void res.end(JSON.stringify({ method: req.method, body }));
    case "/redirect":
      res.writeHead(Number(url.searchParams.get("status") ?? 302), { Location: to });
      return void res.end("moved");
    case "/loop": {
      const n = Number(url.searchParams.get("n") ?? 0);
      const left = Number(url.searchParams.get("left") ?? 1e9);
      if (left === 0) return void res.end(`arrived after ${n}`);
      res.writeHead(302, { Location: `/loop?n=${n + 1}&left=${left - 1}` });
      return void res.end();
    }
    case "/declared-large":
      res.writeHead(200, { "Content-Length": String(1_000_000) });
      return void res.end("x".repeat(1_000_000));
    case "/stream-large": {
      // No Content-Length: the cap has to count as it reads.
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      const chunk = Buffer.alloc(64 * 1024, 97);
      const pump = () => {
        while (res.write(chunk)) if (res.writableLength > 1 << 22) break;
      };
      res.on("drain", pump);
      res.on("close", () => res.off("drain", pump));
      return pump();
    }
    case "/gzip-bomb":
      res.writeHead(200, { "Content-Encoding": "gzip" });
      return void res.end(zlib.gzipSync(Buffer.alloc(5_000_000)));
    case "/gzip":
      res.writeHead(200, { "Content-Encoding": "gzip", "Content-Type": "text/plain" });
      return void res.end(zlib.gzipSync("unzipped"));
    case "/hang":
      res.writeHead(200);
      res.write("partial");
      return void hanging.push(res);
    case "/cut":
      res.writeHead(200, { "Content-Length": "1000" });
      res.write("only a part");
      return void setTimeout(() => res.socket?.destroy(), 20);
    case "/cookie":
      res.writeHead(200, { "Set-Cookie": ["a=1", "b=2"] });
      return void res.end();
    default:
      res.writeHead(404);
      return void res.end("no such route");
  }
}

function handler(tls: boolean) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      const servername = tls ? (req.socket as TLSSocket).servername : undefined;
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, servername });
      route(req, res, body);
    });
  };
}

const server = http.createServer(handler(false));
const tlsServer = https.createServer({ key: TLS_KEY, cert: TLS_CERT }, handler(true));

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => tlsServer.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
  tlsPort = (tlsServer.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  tlsServer.closeAllConnections();
  await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => tlsServer.close(r))]);
});

beforeEach(() => {
  seen = [];
});

const opts = (extra: Partial<SafeFetchOptions> = {}): SafeFetchOptions => ({
  signal: new AbortController().signal,
  maxBytes: 100_000,
  maxRedirects: 5,
  ...extra,
});

/** The TaskFailure a call rejects with (fails the test if it resolves or throws something else). */
async function failure(call: Promise<unknown>): Promise<TaskFailure> {
  const err = await call.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  if (!(err instanceof TaskFailure)) throw err;
  return err;
}

/** A resolver that answers from a table and counts its calls. */
function fakeDns(table: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string): Promise<LookupAddress[]> => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(resolve, { calls });
}

describe("destinations", () => {
  const noAllow = createSafeFetch({ allowHosts: [] });

  test.each([
    "http://127.0.0.1:PORT/json",
    "http://localhost:PORT/json",
    "http://2130706433:PORT/json",
    "http://[::1]:PORT/json",
    "http://0x7f.1:PORT/json",
    "http://0177.0.0.1:PORT/json",
    "http://[::ffff:127.0.0.1]:PORT/json",
    "http://LOCALHOST:PORT/json",
  ])("loopback is refused without an allow-list: %s", async (template) => {
    const err = await failure(noAllow(template.replace("PORT", String(port)), opts()));
    expect(err.code).toBe("forbidden_destination");
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("forbidden");
    expect(seen).toHaveLength(0);
  });

  test("the metadata address is refused", async () => {
    const err = await failure(noAllow("http://169.254.169.254/latest/meta-data/", opts()));
    expect(err).toMatchObject({ code: "forbidden_destination", retryable: false });
    expect(err.message).toContain("cloud metadata");
  });

  test.each(["ftp://example.com/", "file:///etc/passwd", "gopher://localhost:70/", "data:text/plain,hi"])(
    "only http and https: %s is refused",
    async (url) => {
      const err = await failure(createSafeFetch({ allowHosts: ["localhost", "example.com"] })(url, opts()));
      expect(err).toMatchObject({ code: "forbidden_destination", retryable: false });
    },
  );

  test("a string that is no URL fails without retry", async () => {
    const err = await failure(noAllow("not a url", opts()));
    expect(err).toMatchObject({ code: "invalid_url", retryable: false });
  });

  test("an allow-listed name reaches loopback; the response comes back with lowercase headers", async () => {
    const fetch = createSafeFetch({ allowHosts: ["localhost"] });
    const res = await fetch(`http://localhost:${port}/json`, opts());
    expect(res.status).toBe(200);
    expect(res.url).toBe(`http://localhost:${port}/json`);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.headers["x-custom"]).toBe("yes");
    expect(JSON.parse(res.body)).toEqual({ method: "GET", body: "" });
    // Matching ignores case (the URL parser lowercases the host anyway).
    expect((await fetch(`http://LocalHost:${port}/json`, opts())).status).toBe(200);
  });

  test("the allow-list is by name: an allow-listed name does not open its address", async () => {
    const fetch = createSafeFetch({ allowHosts: ["localhost"] });
    const err = await failure(fetch(`http://127.0.0.1:${port}/json`, opts()));
    expect(err.code).toBe("forbidden_destination");
    expect(seen).toHaveLength(0);
  });
});

describe("pinning: the name is resolved once, by the guard, and the socket goes where it said", () => {
  test("a name resolving to a forbidden address is refused", async () => {
    const dns = fakeDns({ "rebind.test": ["127.0.0.1"] });
    const fetch = createSafeFetch({ allowHosts: [] }, { resolve: dns });
    const err = await failure(fetch(`http://rebind.test:${port}/json`, opts()));
    expect(err).toMatchObject({ code: "forbidden_destination", retryable: false });
    expect(err.message).toContain("127.0.0.1");
    expect(dns.calls).toEqual(["rebind.test"]);
    expect(seen).toHaveLength(0);
  });

  test("one forbidden address among public ones is enough to refuse", async () => {
    const dns = fakeDns({ "mixed.test": ["8.8.8.8", "2606:4700:4700::1111", "::ffff:169.254.169.254"] });
    const err = await failure(createSafeFetch({ allowHosts: [] }, { resolve: dns })("http://mixed.test/", opts()));
    expect(err.code).toBe("forbidden_destination");
    expect(err.message).toContain("169.254.169.254");
  });

  test("the connection goes to the address the guard checked, not to a second lookup", async () => {
    // `pinned.test` exists in no DNS: reaching the server proves the socket used our answer.
    const dns = fakeDns({ "pinned.test": ["127.0.0.1"] });
    const fetch = createSafeFetch({ allowHosts: ["pinned.test"] }, { resolve: dns });
    const res = await fetch(`http://pinned.test:${port}/json`, opts());
    expect(res.status).toBe(200);
    expect(dns.calls).toEqual(["pinned.test"]);
    expect(seen[0]?.headers.host).toBe(`pinned.test:${port}`);
  });

  test("a literal address is checked as it is, without DNS", async () => {
    const dns = fakeDns({});
    const err = await failure(createSafeFetch({ allowHosts: [] }, { resolve: dns })("http://[::1]/", opts()));
    expect(err.code).toBe("forbidden_destination");
    expect(dns.calls).toEqual([]);
  });

  test("a name that does not resolve is a network error, retried", async () => {
    const fetch = createSafeFetch({ allowHosts: [] }, { resolve: fakeDns({}) });
    const err = await failure(fetch("http://nowhere.test/", opts()));
    expect(err).toMatchObject({ code: "network_error", retryable: true });
    expect(err.message).toContain("ENOTFOUND");
  });

  test("a refused connection is a network error, retried", async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await failure(
      createSafeFetch({ allowHosts: ["localhost"] })(`http://localhost:${closedPort}/`, opts()),
    );
    expect(err).toMatchObject({ code: "network_error", retryable: true });
    expect(err.message).toContain("ECONNREFUSED");
  });
});

describe("https", () => {
  const dns = fakeDns({ "pinned.test": ["127.0.0.1"], "other.test": ["127.0.0.1"] });
  const fetch = createSafeFetch({ allowHosts: ["pinned.test", "other.test"] }, { resolve: dns, ca: TLS_CERT });

  test("connects to the pinned address with the name as SNI and checks the certificate for the name", async () => {
    const res = await fetch(`https://pinned.test:${tlsPort}/json`, opts());
    expect(res.status).toBe(200);
    expect(seen[0]?.servername).toBe("pinned.test");
    expect(seen[0]?.headers.host).toBe(`pinned.test:${tlsPort}`);
  });

  test("a certificate for another name is refused, without retry", async () => {
    const err = await failure(fetch(`https://other.test:${tlsPort}/json`, opts()));
    expect(err).toMatchObject({ code: "tls_error", retryable: false });
    expect(seen).toHaveLength(0);
  });

  test("an untrusted certificate is refused", async () => {
    const untrusting = createSafeFetch({ allowHosts: ["pinned.test"] }, { resolve: dns });
    const err = await failure(untrusting(`https://pinned.test:${tlsPort}/json`, opts()));
    expect(err).toMatchObject({ code: "tls_error", retryable: false });
  });
});

describe("redirects", () => {
  const dns = fakeDns({ localhost: ["127.0.0.1"], "pinned.test": ["127.0.0.1"] });
  const fetch = createSafeFetch({ allowHosts: ["localhost", "pinned.test"] }, { resolve: dns });
  const base = () => `http://localhost:${port}`;

  test("are followed, relative ones too, each re-checked", async () => {
    const res = await fetch(`${base()}/redirect?to=${encodeURIComponent("/json")}`, opts());
    expect(res.status).toBe(200);
    expect(res.url).toBe(`${base()}/json`);
    expect(seen.map((s) => s.url)).toEqual(["/redirect?to=%2Fjson", "/json"]);
  });

  test.each([
    ["an address literal the allow-list does not name", "http://127.0.0.1:PORT/json"],
    ["the metadata address", "http://169.254.169.254/latest/meta-data/"],
    ["a decimal loopback", "http://2130706433:PORT/json"],
    ["an IPv6 loopback", "http://[::1]:PORT/json"],
    ["a private address", "http://10.0.0.1/"],
  ])("to %s are refused", async (_, to) => {
    const location = to.replace("PORT", String(port));
    const err = await failure(fetch(`${base()}/redirect?to=${encodeURIComponent(location)}`, opts()));
    expect(err).toMatchObject({ code: "forbidden_destination", retryable: false });
    expect(seen).toHaveLength(1);
  });

  test("to a name resolving to a forbidden address are refused", async () => {
    const strict = createSafeFetch(
      { allowHosts: ["localhost"] },
      { resolve: fakeDns({ localhost: ["127.0.0.1"], "evil.test": ["10.1.2.3"] }) },
    );
    const err = await failure(strict(`${base()}/redirect?to=${encodeURIComponent("http://evil.test/")}`, opts()));
    expect(err.code).toBe("forbidden_destination");
    expect(err.message).toContain("10.1.2.3");
  });

  test("to another scheme are refused", async () => {
    const err = await failure(fetch(`${base()}/redirect?to=${encodeURIComponent("file:///etc/passwd")}`, opts()));
    expect(err.code).toBe("forbidden_destination");
  });

  test("stop at the limit with too_many_redirects, not retried", async () => {
    const err = await failure(fetch(`${base()}/loop`, opts({ maxRedirects: 3 })));
    expect(err).toMatchObject({ code: "too_many_redirects", retryable: false });
    expect(seen).toHaveLength(4);
  });

  test("exactly the limit is fine", async () => {
    const res = await fetch(`${base()}/loop?left=3`, opts({ maxRedirects: 3 }));
    expect(res.body).toBe("arrived after 3");
  });

  test("303, and 301/302 after a POST, go on as a GET without the body", async () => {
    for (const status of [301, 302, 303]) {
      seen = [];
      const res = await fetch(`${base()}/redirect?status=${status}&to=%2Fjson`, {
        ...opts(),
        method: "POST",
        body: "payload",
        headers: { "content-type": "text/plain", "x-keep": "1" },
      });
      expect(JSON.parse(res.body)).toEqual({ method: "GET", body: "" });
      expect(seen[1]?.headers["content-type"]).toBeUndefined();
      expect(seen[1]?.headers["x-keep"]).toBe("1");
    }
  });

  test("307 and 308 keep the method and the body", async () => {
    for (const status of [307, 308]) {
      const res = await fetch(`${base()}/redirect?status=${status}&to=%2Fjson`, {
        ...opts(),
        method: "PUT",
        body: "kept",
      });
      expect(JSON.parse(res.body)).toEqual({ method: "PUT", body: "kept" });
    }
  });

  test("credentials do not follow a redirect to another origin", async () => {
    const to = encodeURIComponent(`http://pinned.test:${port}/json`);
    await fetch(`${base()}/redirect?to=${to}`, {
      ...opts(),
      headers: { Authorization: "Bearer secret", Cookie: "s=1", "X-Other": "kept" },
    });
    expect(seen[0]?.headers.authorization).toBe("Bearer secret");
    expect(seen[1]?.headers.authorization).toBeUndefined();
    expect(seen[1]?.headers.cookie).toBeUndefined();
    expect(seen[1]?.headers["x-other"]).toBe("kept");
  });
});

describe("the response body", () => {
  const fetch = createSafeFetch({ allowHosts: ["localhost"] });
  const url = (path: string) => `http://localhost:${port}${path}`;

  test("a declared Content-Length over the cap is refused before reading", async () => {
    const err = await failure(fetch(url("/declared-large"), opts({ maxBytes: 1000 })));
    expect(err).toMatchObject({ code: "response_too_large", retryable: false });
  });

  test("a streamed body is cut off once it passes the cap", async () => {
    const err = await failure(fetch(url("/stream-large"), opts({ maxBytes: 1_000_000 })));
    expect(err).toMatchObject({ code: "response_too_large", retryable: false });
  });

  test("the cap counts decoded bytes: a small gzip bomb is still too large", async () => {
    const err = await failure(fetch(url("/gzip-bomb"), opts({ maxBytes: 1_000_000 })));
    expect(err.code).toBe("response_too_large");
  });

  test("gzip is decoded", async () => {
    const res = await fetch(url("/gzip"), opts());
    expect(res.body).toBe("unzipped");
  });

  test("repeated headers are joined", async () => {
    const res = await fetch(url("/cookie"), opts());
    expect(res.headers["set-cookie"]).toBe("a=1, b=2");
  });

  test("a connection cut mid-body is a network error, retried", async () => {
    const err = await failure(fetch(url("/cut"), opts()));
    expect(err).toMatchObject({ code: "network_error", retryable: true });
  });
});

describe("the request", () => {
  const fetch = createSafeFetch({ allowHosts: ["localhost"] });

  test("Host, framing and connection headers from the caller are dropped; Host is the URL's", async () => {
    await fetch(`http://localhost:${port}/json`, {
      ...opts(),
      method: "post",
      body: "héllo",
      headers: {
        Host: "internal.example",
        "Content-Length": "1",
        "Transfer-Encoding": "chunked",
        Connection: "upgrade",
        "X-Trace": "abc",
      },
    });
    const req = seen[0];
    expect(req?.method).toBe("POST");
    expect(req?.headers.host).toBe(`localhost:${port}`);
    expect(req?.headers["content-length"]).toBe(String(Buffer.byteLength("héllo")));
    expect(req?.headers["transfer-encoding"]).toBeUndefined();
    expect(req?.headers.connection).not.toBe("upgrade");
    expect(req?.headers["x-trace"]).toBe("abc");
    expect(req?.body).toBe("héllo");
  });

  test("a header value with a line break is refused before anything is sent", async () => {
    const err = await failure(
      fetch(`http://localhost:${port}/json`, { ...opts(), headers: { "x-a": "1\r\nInjected: yes" } }),
    );
    expect(err).toMatchObject({ code: "invalid_request", retryable: false });
    expect(seen).toHaveLength(0);
  });
});

describe("abort", () => {
  const fetch = createSafeFetch({ allowHosts: ["localhost"] });

  test("mid-response rejects with the signal's reason while the server still holds the response open", async () => {
    const controller = new AbortController();
    const reason = new Error("the task ran past its timeout");
    const pending = fetch(`http://localhost:${port}/hang`, { ...opts(), signal: controller.signal });
    while (seen.length === 0) await Bun.sleep(5);
    controller.abort(reason);
    // The server never finishes /hang: only the abort can settle this.
    expect(
      await pending.then(
        () => null,
        (e: unknown) => e,
      ),
    ).toBe(reason);
  });

  test("an already aborted signal rejects without a request", async () => {
    const reason = new Error("cancelled");
    const err = await fetch(`http://localhost:${port}/json`, { ...opts(), signal: AbortSignal.abort(reason) }).catch(
      (e: unknown) => e,
    );
    expect(err).toBe(reason);
    expect(seen).toHaveLength(0);
  });

  test("an abort during the lookup rejects with the reason", async () => {
    const controller = new AbortController();
    const reason = new Error("cancel during dns");
    let release = () => {};
    const slowDns: Resolver = (hostname) =>
      new Promise((resolve) => {
        release = () => resolve([{ address: "127.0.0.1", family: 4 }]);
        void hostname;
      });
    const slow = createSafeFetch({ allowHosts: ["slow.test"] }, { resolve: slowDns });
    const pending = slow(`http://slow.test:${port}/json`, { ...opts(), signal: controller.signal });
    await Bun.sleep(10);
    controller.abort(reason);
    expect(
      await pending.then(
        () => null,
        (e: unknown) => e,
      ),
    ).toBe(reason);
    release();
    await Bun.sleep(20);
    expect(seen).toHaveLength(0);
  });
});
