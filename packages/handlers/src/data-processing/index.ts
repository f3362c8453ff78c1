import { defineTaskType } from "../define.ts";
import { TaskFailure } from "../failure.ts";
import type { SafeFetch } from "../http/types.ts";
import { type DataProcessingResult, detectSourceFormat, formatOutput, headerValue, parseSource } from "./formats.ts";
import { dataProcessingPayloadSchema } from "./schema.ts";
import { applyTransformation } from "./transform.ts";

/** Larger sources are refused while being read: the rows are held in memory, several times over. */
export const MAX_SOURCE_BYTES = 50 * 1024 * 1024;
const MAX_REDIRECTS = 5;

/** Progress after each phase; the transformations share the span between parsed and formatted. */
const PROGRESS_FETCHED = 30;
const PROGRESS_PARSED = 60;
const PROGRESS_TRANSFORMED = 90;

/**
 * The `data_processing` task type, reaching sources through `fetch` (the SSRF-guarded one in
 * production, so a forbidden destination fails with `forbidden_destination`).
 */
export function createDataProcessingType(fetch: SafeFetch) {
  return defineTaskType({
    type: "data_processing",
    description:
      "Fetches JSON, NDJSON or CSV rows from sourceUrl, applies filter/select/rename/sort/limit/dedupe/aggregate steps in order, and returns them as json, csv or ndjson.",
    schema: dataProcessingPayloadSchema,
    defaults: {
      timeoutMs: 60_000,
      maxAttempts: 3,
      backoff: { strategy: "exponential", delayMs: 1000 },
      concurrency: { min: 2, max: 50 },
    },
    run: async (payload, ctx): Promise<DataProcessingResult> => {
      const { signal } = ctx;
      signal.throwIfAborted();
      const response = await fetch(payload.sourceUrl, {
        method: "GET",
        signal,
        maxBytes: MAX_SOURCE_BYTES,
        maxRedirects: MAX_REDIRECTS,
      });
      if (response.status < 200 || response.status > 299) {
        // A failing server may recover; any other answer will be the same next time.
        const retryable = response.status >= 500;
        throw new TaskFailure("source_status", `the source answered with status ${response.status}`, retryable);
      }
      // Log lines carry counts only: the rows are the tenant's data and logs are kept apart from it.
      ctx.log(`fetched ${Buffer.byteLength(response.body)} bytes (status ${response.status})`);
      ctx.progress(PROGRESS_FETCHED);
      signal.throwIfAborted();

      const format =
        payload.sourceFormat ??
        detectSourceFormat(headerValue(response.headers, "content-type"), [payload.sourceUrl, response.url]);
      let rows = parseSource(response.body, format);
      ctx.log(`parsed ${rows.length} rows as ${format}`);
      ctx.progress(PROGRESS_PARSED);
      signal.throwIfAborted();

      const steps = payload.transformations;
      for (const [i, step] of steps.entries()) {
        const before = rows.length;
        rows = applyTransformation(rows, step);
        ctx.log(`step ${i + 1}/${steps.length} ${step.op}: ${before} -> ${rows.length} rows`);
        ctx.progress(PROGRESS_PARSED + Math.round(((PROGRESS_TRANSFORMED - PROGRESS_PARSED) * (i + 1)) / steps.length));
        signal.throwIfAborted();
      }

      const result = formatOutput(rows, payload.outputFormat);
      ctx.log(`formatted ${result.rowCount} rows as ${result.format}`);
      return result;
    },
  });
}

export type { DataProcessingResult } from "./formats.ts";
export type { DataProcessingPayload, Transformation } from "./schema.ts";
export { dataProcessingPayloadSchema, transformationSchema } from "./schema.ts";
