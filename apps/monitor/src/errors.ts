import { ConveyorError, type Logger } from "@conveyor/core";
import type { ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The contract's error body. */
export function errorBody(code: string, message: string, details: unknown[] = []) {
  return { error: { code, message, details } };
}

/** Turns anything thrown into the contract's `{error: {code, message, details}}`; never a stack trace. */
export function errorHandler(log: Logger): ErrorHandler {
  return (err, c) => {
    if (err instanceof ConveyorError) {
      return c.json(errorBody(err.code, err.message, err.details), err.status as ContentfulStatusCode);
    }
    if (err instanceof HTTPException && err.status < 500) {
      return c.json(errorBody("validation_failed", err.message || "bad request"), err.status as ContentfulStatusCode);
    }
    log.error({ err: { name: err.name, message: err.message, stack: err.stack }, path: c.req.path }, "unhandled error");
    return c.json(errorBody("internal", "internal error"), 500);
  };
}

export const notFound: NotFoundHandler = (c) =>
  c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404);
