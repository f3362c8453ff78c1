import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from "@conveyor/core";
import type { MiddlewareHandler } from "hono";

export const MAX_JSON_DEPTH = 64;

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Nesting depth of a JSON text, found by scanning brackets outside strings. It runs before
 * parsing because deep JSON makes zod and `JSON.stringify` overflow the stack.
 * Stops early once `limit` is passed.
 */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92 /* \ */) i++;
      else if (ch === 34 /* " */) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 /* { */ || ch === 91 /* [ */) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (ch === 125 /* } */ || ch === 93 /* ] */) depth--;
  }
  return max;
}

async function readCapped(body: ReadableStream<Uint8Array>, limit: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new PayloadTooLargeError(limit);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * Guards every request body before validation: JSON only (415), at most `maxBytes` whether
 * or not it says its length (413), nested at most 64 deep (400). The text it read is left
 * in Hono's body cache, so the validator parses it once.
 */
export function jsonBody(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    const req = c.req.raw;
    const length = req.headers.get("content-length");
    // Not the headers alone: a Request built in process (`app.request`, `app.fetch`) has a body
    // but neither Content-Length nor Transfer-Encoding, and must not slip past the guard.
    if (req.body === null || length === "0") return next();
    const mediaType = (req.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
    if (!JSON_TYPE.test(mediaType)) throw new UnsupportedMediaTypeError();
    if (length !== null && Number(length) > maxBytes) throw new PayloadTooLargeError(maxBytes);
    const text = await readCapped(req.body, maxBytes);
    if (jsonDepth(text) > MAX_JSON_DEPTH) {
      throw new ValidationError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`, [
        { path: [], code: "too_deep", message: `nesting is limited to ${MAX_JSON_DEPTH} levels` },
      ]);
    }
    // Hono keeps promises in its body cache (its type says the resolved values).
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
    await next();
  };
}
