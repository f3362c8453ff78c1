import { type Logger, UnavailableError } from "@conveyor/core";
import type { Context } from "hono";

// Hop-by-hop headers belong to one connection, not to the request.
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"];

/**
 * Forwards a `/v1/*` request to the API (method, headers with cookie and authorization, body)
 * and streams its answer back, so the browser talks to one origin. A down API is a 503.
 */
export function proxyToApi(apiUrl: string, log: Logger) {
  const base = apiUrl.replace(/\/+$/, "");
  return async (c: Context) => {
    const url = new URL(c.req.url);
    const headers = new Headers(c.req.raw.headers);
    for (const h of HOP_BY_HOP) headers.delete(h);
    headers.delete("host");
    // Bun's fetch would decompress the answer but keep its Content-Encoding: ask for none.
    headers.delete("accept-encoding");
    const method = c.req.method;
    const hasBody = method !== "GET" && method !== "HEAD";
    let res: Response;
    try {
      res = await fetch(`${base}${url.pathname}${url.search}`, {
        method,
        headers,
        body: hasBody ? c.req.raw.body : undefined,
        redirect: "manual",
        duplex: "half",
      } as RequestInit);
    } catch (err) {
      log.warn({ err: (err as Error).message, path: url.pathname }, "api not reachable");
      throw new UnavailableError("the API is not reachable");
    }
    const out = new Headers(res.headers);
    for (const h of [...HOP_BY_HOP, "content-encoding", "content-length"]) out.delete(h);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
  };
}
