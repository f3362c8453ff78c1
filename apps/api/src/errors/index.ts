import { ConveyorError, type Logger, RateLimitedError, ValidationError } from "@conveyor/core";
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The contract's error body. */
export function errorBody(err: ConveyorError) {
  return { error: { code: err.code, message: err.message, details: err.details } };
}

const CODE_BY_STATUS: Record<number, string> = {
  400: "validation_failed",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "not_found",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
  503: "unavailable",
};

/**
 * True when PostgreSQL refused a value's bytes: a NUL in `text` (22021) or in `jsonb`, or a
 * character the database encoding lacks (22P05). Such a value can only have come from the
 * request, so it is bad input (400), wherever a route forgot to check for it.
 */
function isUnstorableText(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if ((e as Error).name === "PostgresError" && (code === "22021" || code === "22P05")) return true;
  }
  return false;
}

/** Turns anything thrown into the contract's `{error: {code, message, details}}`; never a stack trace. */
export function errorHandler(log: Logger): ErrorHandler {
  return (err, c) => {
    if (err instanceof ConveyorError) {
      if (err instanceof RateLimitedError) c.header("Retry-After", String(err.retryAfterSeconds));
      return c.json(errorBody(err), err.status as ContentfulStatusCode);
    }
    if (err instanceof HTTPException && err.status < 500) {
      const code = CODE_BY_STATUS[err.status] ?? "validation_failed";
      return c.json(
        { error: { code, message: err.message || code.replace("_", " "), details: [] } },
        err.status as ContentfulStatusCode,
      );
    }
    if (isUnstorableText(err)) {
      const message = "the request holds text PostgreSQL cannot store (U+0000)";
      return c.json(errorBody(new ValidationError(message, [{ path: [], code: "invalid_string", message }])), 400);
    }
    log.error({ err: { name: err.name, message: err.message, stack: err.stack }, path: c.req.path }, "unhandled error");
    return c.json({ error: { code: "internal", message: "internal error", details: [] } }, 500);
  };
}

export const notFound: NotFoundHandler = (c: Context) =>
  c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}`, details: [] } }, 404);
