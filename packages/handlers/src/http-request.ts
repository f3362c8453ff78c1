import { STATUS_CODES } from "node:http";
import { z } from "zod";
import { defineTaskType } from "./define.ts";
import { TaskFailure } from "./failure.ts";
import { createSafeFetch, type SafeFetchInternals } from "./http/fetch.ts";
import { literalHostRefusal } from "./http/ssrf.ts";
import type { OutboundPolicy } from "./http/types.ts";

export const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;
/** The largest response body an `http_request` task reads: 10 MiB. */
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
export const MAX_REDIRECTS = 5;

// RFC 9110 token characters; a value holds no control character but tab, so nothing a payload
// says can split one header into two, and only the Latin-1 range Node can put on the wire.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\u0020-\u007e\u0080-\u00ff]*$/;

/**
 * The payload schema. A URL whose host is a forbidden address literal is refused here already,
 * so the submitter gets a 400 instead of a task that can only fail; names are left to the
 * worker's guard, which checks what they resolve to when the task runs.
 */
export function httpRequestPayload(policy: OutboundPolicy) {
  return z.strictObject({
    url: z
      .url({ protocol: /^https?$/, error: "url must be an absolute http or https URL" })
      .superRefine((url, ctx) => {
        if (!URL.canParse(url)) return;
        const refusal = literalHostRefusal(new URL(url), policy.allowHosts);
        if (refusal) ctx.addIssue({ code: "custom", message: `the destination is forbidden: ${refusal}` });
      })
      .describe("http or https; private, loopback, link-local and metadata destinations are refused"),
    method: z.enum(HTTP_METHODS).default("GET"),
    headers: z
      .record(
        z.string(),
        z
          .string()
          .regex(HEADER_VALUE, "header values may hold no line break or control character, and only Latin-1 text"),
      )
      // Checked here rather than as the record's key schema, whose failure zod reports only as
      // "Invalid key in record".
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers)) {
          if (!HEADER_NAME.test(name)) {
            ctx.addIssue({ code: "custom", path: [name], message: `header names must be HTTP tokens: ${name}` });
          }
        }
      })
      .optional(),
    body: z.json().optional().describe("A string is sent as it is; other JSON is serialized as application/json"),
    expectStatus: z
      .number()
      .int()
      .min(100)
      .max(599)
      .optional()
      .describe("Only this status completes the task; without it any status below 500 does"),
  });
}

export type HttpRequestPayload = z.output<ReturnType<typeof httpRequestPayload>>;

export interface HttpRequestResult {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON when the response says it is JSON and parses; else the text. */
  body: unknown;
}

function isJsonType(contentType: string | undefined): boolean {
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  return mediaType === "application/json" || mediaType === "text/json" || /^application\/[^/]+\+json$/.test(mediaType);
}

/**
 * The result is stored as PostgreSQL jsonb, which cannot hold U+0000: a binary or hostile
 * response must not make the finished task unrecordable.
 */
function storable(value: unknown): unknown {
  if (typeof value === "string") return value.replaceAll("\u0000", "\uFFFD");
  if (Array.isArray(value)) return value.map(storable);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k) as string, storable(v)]));
  }
  return value;
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (!isJsonType(contentType) || text.trim() === "") return storable(text);
  try {
    return storable(JSON.parse(text));
  } catch {
    return storable(text);
  }
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? "Unknown"}`;
}

/** A URL to show in the task's log: no credentials, no query string (it may carry secrets). */
function shown(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** The `http_request` task type under an outbound policy (`SSRF_ALLOW_HOSTS`). */
export function createHttpRequestType(policy: OutboundPolicy, internals: SafeFetchInternals = {}) {
  const safeFetch = createSafeFetch(policy, internals);
  return defineTaskType({
    type: "http_request",
    description:
      "Makes an HTTP(S) request and returns {status, headers, body}; 5xx answers and network errors are retried. " +
      "Private, loopback, link-local and metadata addresses are refused (forbidden_destination).",
    schema: httpRequestPayload(policy),
    defaults: {
      timeoutMs: 30_000,
      maxAttempts: 3,
      backoff: { strategy: "exponential", delayMs: 1000 },
      concurrency: { min: 5, max: 200 },
    },
    async run(payload, { signal, log }): Promise<HttpRequestResult> {
      const headers: Record<string, string> = { ...payload.headers };
      let body: string | undefined;
      if (payload.body !== undefined) {
        if (typeof payload.body === "string") {
          body = payload.body;
        } else {
          body = JSON.stringify(payload.body);
          const hasType = Object.keys(headers).some((name) => name.toLowerCase() === "content-type");
          if (!hasType) headers["content-type"] = "application/json";
        }
      }
      const res = await safeFetch(payload.url, {
        method: payload.method,
        headers,
        body,
        signal,
        maxBytes: MAX_RESPONSE_BYTES,
        maxRedirects: MAX_REDIRECTS,
      });
      log(`${payload.method} ${shown(payload.url)} answered ${statusLine(res.status)}`);
      const { expectStatus } = payload;
      if (expectStatus !== undefined && res.status === expectStatus) {
        return { status: res.status, headers: res.headers, body: parseBody(res.body, res.headers["content-type"]) };
      }
      if (res.status >= 500) {
        log(`response body: ${res.body.slice(0, 500)}`, "warn");
        throw new TaskFailure("server_error", statusLine(res.status), true);
      }
      if (expectStatus !== undefined) {
        log(`response body: ${res.body.slice(0, 500)}`, "warn");
        throw new TaskFailure("unexpected_status", `expected ${expectStatus}, got ${statusLine(res.status)}`, false);
      }
      return { status: res.status, headers: res.headers, body: parseBody(res.body, res.headers["content-type"]) };
    },
  });
}
