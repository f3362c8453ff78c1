import type { LookupAddress, LookupOptions } from "node:dns";
import { lookup as dnsLookup } from "node:dns/promises";
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { Readable } from "node:stream";
import zlib from "node:zlib";
import { TaskFailure } from "../failure.ts";
import { forbiddenReason, formatIpAddress, isAllowedHost, literalHostRefusal, parseIpAddress } from "./ssrf.ts";
import type { OutboundPolicy, SafeFetch, SafeFetchOptions, SafeResponse } from "./types.ts";

/** Resolves a host name to every address it has (what `dns.lookup(name, {all: true})` gives). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

/** Seams for tests; production code passes none. */
export interface SafeFetchInternals {
  /** Replaces DNS, so a test can make a name resolve wherever it needs. */
  resolve?: Resolver;
  /** Extra trusted CA certificates (PEM), for a test's self-signed HTTPS server. */
  ca?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

// The transport's business, never the caller's: a caller-set Host would aim a pinned connection
// at another virtual host, and framing headers could smuggle a second request.
const DROPPED_REQUEST_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "accept-encoding",
]);

// Credentials meant for one origin must not follow a redirect to another (as fetch() does).
const ORIGIN_BOUND_HEADERS = ["authorization", "cookie", "proxy-authorization"];
const BODY_HEADERS = ["content-type", "content-encoding", "content-language", "content-location"];

// Node's certificate failures: a retry within seconds meets the same certificate.
const TLS_CODES = new Set([
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "HOSTNAME_MISMATCH",
]);

const defaultResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("aborted", "AbortError");
}

function forbidden(host: string, why: string): TaskFailure {
  return new TaskFailure("forbidden_destination", `the destination ${host} is forbidden: ${why}`, false);
}

/** What a failed connection or exchange means for the task: a TLS refusal stays, the rest retries. */
function transportFailure(err: unknown, host: string): TaskFailure {
  if (err instanceof TaskFailure) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : String(err);
  if (TLS_CODES.has(code) || code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_")) {
    return new TaskFailure("tls_error", `TLS with ${host} failed: ${code} ${message}`, false);
  }
  return new TaskFailure("network_error", `request to ${host} failed: ${code ? `${code} ` : ""}${message}`, true);
}

/** The URL's host without IPv6 brackets: what DNS and TLS are given. */
function bareHost(url: URL): string {
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

/** Refuses a URL that may not be requested before anything is sent: scheme and literal addresses. */
function checkTarget(url: URL, allowHosts: readonly string[]): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw forbidden(url.href, `only http and https may be requested, not ${url.protocol}`);
  }
  const refusal = literalHostRefusal(url, allowHosts);
  if (refusal) throw forbidden(url.host, refusal);
}

/**
 * The `lookup` given to the socket: it resolves the name, refuses it if any address is forbidden
 * (a name with one private address among public ones could be steered to it), and hands the
 * socket exactly the addresses it checked, so nothing resolves the name a second time.
 */
function guardedLookup(
  allowHosts: readonly string[],
  resolve: Resolver,
  onLookup: (failure: TaskFailure | null) => void,
): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    const answer = async (): Promise<LookupAddress[]> => {
      let found: LookupAddress[];
      try {
        found = await resolve(hostname);
      } catch (err) {
        throw transportFailure(err, hostname);
      }
      if (found.length === 0) throw new TaskFailure("network_error", `${hostname} has no address`, true);
      if (isAllowedHost(hostname, allowHosts)) return found;
      const checked: LookupAddress[] = [];
      for (const entry of found) {
        const address = parseIpAddress(entry.address);
        const reason = forbiddenReason(entry.address);
        if (reason !== null || address === null || address === "invalid") {
          throw forbidden(hostname, `it resolves to ${entry.address} (${reason ?? "not an address"})`);
        }
        checked.push({ address: formatIpAddress(address), family: address.version });
      }
      return checked;
    };
    answer().then(
      (addresses) => {
        onLookup(null);
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = wanted ? addresses.filter((a) => a.family === wanted) : addresses;
        const first = usable[0];
        if (!first) {
          const err = new TaskFailure("network_error", `${hostname} has no IPv${wanted} address`, true);
          return callback(err as unknown as NodeJS.ErrnoException, "");
        }
        if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (err: TaskFailure) => {
        onLookup(err);
        callback(err as unknown as NodeJS.ErrnoException, "");
      },
    );
  };
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

function tooLarge(maxBytes: number): TaskFailure {
  return new TaskFailure("response_too_large", `the response body is larger than ${maxBytes} bytes`, false);
}

/** The decoded body stream: the cap counts decoded bytes, so a small gzip bomb stays small. */
function decodedBody(res: IncomingMessage, encoding: string | undefined): Readable {
  switch (encoding?.trim().toLowerCase()) {
    case "gzip":
    case "x-gzip":
      return res.pipe(zlib.createGunzip());
    case "deflate":
      return res.pipe(zlib.createInflate());
    case "br":
      return res.pipe(zlib.createBrotliDecompress());
    default:
      return res;
  }
}

type Exchange =
  | { kind: "redirect"; status: number; location: string }
  | { kind: "response"; status: number; headers: Record<string, string>; body: string };

interface Hop {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Creates the one way handlers reach the network: every connection goes to an address the policy allows. */
export function createSafeFetch(policy: OutboundPolicy, internals: SafeFetchInternals = {}): SafeFetch {
  const allowHosts = [...policy.allowHosts];
  const resolve = internals.resolve ?? defaultResolver;

  function exchange(hop: Hop, opts: SafeFetchOptions): Promise<Exchange> {
    const { url, method, body } = hop;
    const { signal, maxBytes } = opts;
    const host = bareHost(url);
    const literal = parseIpAddress(host) !== null;
    return new Promise<Exchange>((resolvePromise, reject) => {
      let settled = false;
      let looked = false;
      let lookupFailure: TaskFailure | null = null;
      let req: http.ClientRequest | undefined;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        fn();
      };
      const fail = (err: unknown) =>
        settle(() => {
          req?.destroy();
          reject(err);
        });
      // Rejects at once rather than when the socket gets round to closing, so a timeout or cancel
      // ends the attempt on time.
      const onAbort = () => fail(abortReason(signal));
      signal.addEventListener("abort", onAbort, { once: true });

      const onResponse = (res: IncomingMessage) => {
        // A runtime that skipped the lookup would have connected to an unchecked address.
        if (!literal && !looked) return fail(forbidden(host, "the connection did not go through the address guard"));
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (REDIRECTS.has(status) && location !== undefined) {
          return settle(() => {
            req?.destroy();
            resolvePromise({ kind: "redirect", status, location });
          });
        }
        const headers = flattenHeaders(res.headers);
        const declared = Number(headers["content-length"]);
        if (Number.isFinite(declared) && declared > maxBytes) return fail(tooLarge(maxBytes));
        const stream = decodedBody(res, headers["content-encoding"]);
        const chunks: Buffer[] = [];
        let size = 0;
        let ended = false;
        stream.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) return fail(tooLarge(maxBytes));
          chunks.push(chunk);
        });
        stream.on("end", () => {
          ended = true;
          settle(() =>
            resolvePromise({ kind: "response", status, headers, body: Buffer.concat(chunks).toString("utf8") }),
          );
        });
        stream.on("error", (err) => fail(transportFailure(err, host)));
        res.on("error", (err) => fail(transportFailure(err, host)));
        res.on("close", () => {
          // A decoder may still be flushing; only an unfinished message is a failure.
          if (!ended && !res.complete)
            fail(new TaskFailure("network_error", `${host} closed the response early`, true));
        });
      };

      const headers: Record<string, string> = {
        ...hop.headers,
        host: url.host,
        "accept-encoding": "gzip, deflate, br",
      };
      if (body !== undefined) headers["content-length"] = String(Buffer.byteLength(body));
      const options: https.RequestOptions = {
        protocol: url.protocol,
        host,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        // A pooled socket would skip the lookup, and a pool shared with another policy would
        // skip this policy's check: every request gets its own connection.
        agent: false,
        auth: url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined,
      };
      if (!literal) {
        options.lookup = guardedLookup(allowHosts, resolve, (failure) => {
          looked = true;
          lookupFailure = failure;
        });
      }
      if (url.protocol === "https:") {
        // The certificate is checked against the name while the socket goes to the pinned address.
        // SNI carries no trailing dot.
        if (!literal) options.servername = host.replace(/\.$/, "");
        if (internals.ca) options.ca = internals.ca;
      }
      if (signal.aborted) return onAbort();
      try {
        req = (url.protocol === "https:" ? https : http).request(options, onResponse);
      } catch (err) {
        // Node refuses header names and values it cannot send before anything goes out.
        return fail(new TaskFailure("invalid_request", (err as Error).message, false));
      }
      req.on("error", (err) => fail(lookupFailure ?? transportFailure(err, host)));
      req.end(body);
    });
  }

  return async (url, opts) => {
    if (opts.signal.aborted) throw abortReason(opts.signal);
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new TaskFailure("invalid_url", `not a URL: ${url}`, false);
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      if (!DROPPED_REQUEST_HEADERS.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
    }
    let hop: Hop = { url: target, method: (opts.method ?? "GET").toUpperCase(), headers, body: opts.body };
    for (let redirects = 0; ; redirects++) {
      checkTarget(hop.url, allowHosts);
      const answer = await exchange(hop, opts);
      if (answer.kind === "response") {
        const { status, headers: responseHeaders, body } = answer;
        return { status, headers: responseHeaders, body, url: hop.url.href } satisfies SafeResponse;
      }
      if (redirects >= opts.maxRedirects) {
        throw new TaskFailure("too_many_redirects", `more than ${opts.maxRedirects} redirects from ${url}`, false);
      }
      let next: URL;
      try {
        next = new URL(answer.location, hop.url);
      } catch {
        throw new TaskFailure("invalid_redirect", `${answer.status} to an invalid location: ${answer.location}`, false);
      }
      const nextHeaders = { ...hop.headers };
      let { method, body } = hop;
      // What browsers and fetch() do: 303 always, and 301/302 after a POST, go on as a GET.
      if (
        (answer.status === 303 && method !== "HEAD") ||
        ((answer.status === 301 || answer.status === 302) && method === "POST")
      ) {
        method = "GET";
        body = undefined;
        for (const name of BODY_HEADERS) delete nextHeaders[name];
      }
      if (next.origin !== hop.url.origin) for (const name of ORIGIN_BOUND_HEADERS) delete nextHeaders[name];
      hop = { url: next, method, headers: nextHeaders, body };
    }
  };
}
