import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TaskContext } from "../define.ts";
import { TaskFailure } from "../failure.ts";
import type { SafeFetch, SafeFetchOptions, SafeResponse } from "../http/types.ts";
import { createDataProcessingType, MAX_SOURCE_BYTES } from "./index.ts";

const CSV = "id,name,country,amount\n1,Ana,FR,10\n2,Bo,DE,9\n3,Cy,FR,100\n4,Di,IT,\n";

/** A test double of our own SafeFetch: answers every URL with one canned response, and records the calls. */
function cannedFetch(answer: Partial<SafeResponse> | ((url: string, opts: SafeFetchOptions) => SafeResponse)) {
  const calls: { url: string; opts: SafeFetchOptions }[] = [];
  const fetch: SafeFetch = async (url, opts) => {
    calls.push({ url, opts });
    if (typeof answer === "function") return answer(url, opts);
    return { status: 200, headers: {}, body: "", url, ...answer };
  };
  return { fetch, calls };
}

function testContext(controller = new AbortController()) {
  const progress: number[] = [];
  const logs: string[] = [];
  const ctx: TaskContext = {
    signal: controller.signal,
    attempt: 1,
    taskId: "task-1",
    progress: (n) => progress.push(n),
    log: (message) => logs.push(message),
  };
  return { ctx, progress, logs, controller };
}

/** Runs a payload the way the worker does: through the schema first. */
async function runTask(fetch: SafeFetch, payload: unknown, ctx = testContext().ctx) {
  const type = createDataProcessingType(fetch);
  return type.run(type.schema.parse(payload), ctx);
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

const csvSource = { body: CSV, headers: { "Content-Type": "text/csv; charset=utf-8" } };
const steps = [
  { op: "filter", field: "country", operator: "eq", value: "FR" },
  { op: "sort", by: "amount", order: "desc" },
  { op: "select", fields: ["name", "amount"] },
];

describe("the data_processing type", () => {
  test("carries the contract's name and defaults", () => {
    const type = createDataProcessingType(cannedFetch({}).fetch);
    expect(type.type).toBe("data_processing");
    expect(type.description.length).toBeGreaterThan(0);
    expect(type.defaults).toEqual({
      timeoutMs: 60_000,
      maxAttempts: 3,
      backoff: { strategy: "exponential", delayMs: 1000 },
      priority: "normal",
      concurrency: { min: 2, max: 50 },
    });
  });

  test("fetches with GET, the task's signal and the size and redirect limits", async () => {
    const { fetch, calls } = cannedFetch(csvSource);
    const { ctx, controller } = testContext();
    await runTask(fetch, { sourceUrl: "https://example.com/x", transformations: [], outputFormat: "json" }, ctx);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe("https://example.com/x");
    expect(calls[0]?.opts).toEqual({
      method: "GET",
      signal: controller.signal,
      maxBytes: 50 * 1024 * 1024,
      maxRedirects: 5,
    });
    expect(MAX_SOURCE_BYTES).toBe(52_428_800);
  });
});

describe("output formats", () => {
  test("json: the rows as an array, numbers compared as numbers though CSV gave strings", async () => {
    const { fetch } = cannedFetch(csvSource);
    const { ctx, progress, logs } = testContext();
    const result = await runTask(
      fetch,
      { sourceUrl: "https://example.com/export", transformations: steps, outputFormat: "json" },
      ctx,
    );
    expect(result).toEqual({
      rowCount: 2,
      format: "json",
      output: [
        { name: "Cy", amount: "100" },
        { name: "Ana", amount: "10" },
      ],
    });
    expect(progress).toEqual([30, 60, 70, 80, 90]);
    expect(logs).toEqual([
      `fetched ${CSV.length} bytes (status 200)`,
      "parsed 4 rows as csv",
      "step 1/3 filter: 4 -> 2 rows",
      "step 2/3 sort: 2 -> 2 rows",
      "step 3/3 select: 2 -> 2 rows",
      "formatted 2 rows as json",
    ]);
    // Logs hold counts, never the tenant's data.
    for (const line of logs) for (const word of ["Ana", "Cy", "FR", "example.com"]) expect(line).not.toContain(word);
  });

  test("csv: text with a header row; nested output as dotted columns", async () => {
    const { fetch } = cannedFetch(csvSource);
    const result = await runTask(fetch, {
      sourceUrl: "https://example.com/export",
      transformations: [
        { op: "aggregate", groupBy: ["country"], metrics: [{ fn: "sum", field: "amount", as: "total.amount" }] },
        { op: "rename", from: "country", to: "place.country" },
      ],
      outputFormat: "csv",
    });
    expect(result).toEqual({
      rowCount: 3,
      format: "csv",
      output: "total.amount,place.country\n110,FR\n9,DE\n0,IT\n",
    });
  });

  test("ndjson: one object per line, newline-terminated; json source detected by extension", async () => {
    const { fetch } = cannedFetch({
      body: JSON.stringify([{ user: { country: "FR" }, n: 1 }, { user: { country: "DE" }, n: 2 }, { n: 3 }]),
      headers: { "content-type": "application/octet-stream" },
    });
    const result = await runTask(fetch, {
      sourceUrl: "https://example.com/data.json",
      transformations: [{ op: "filter", field: "user.country", operator: "exists", value: true }],
      outputFormat: "ndjson",
    });
    expect(result).toEqual({
      rowCount: 2,
      format: "ndjson",
      output: '{"user":{"country":"FR"},"n":1}\n{"user":{"country":"DE"},"n":2}\n',
    });
  });

  test("sourceFormat overrides the content type", async () => {
    const { fetch } = cannedFetch({ body: '{"a":1}\n{"a":2}\n', headers: { "content-type": "application/json" } });
    const result = await runTask(fetch, {
      sourceUrl: "https://example.com/data.json",
      sourceFormat: "ndjson",
      transformations: [],
      outputFormat: "json",
    });
    expect(result).toEqual({ rowCount: 2, format: "json", output: [{ a: 1 }, { a: 2 }] });
  });

  test("no steps: progress goes from parsed straight to done", async () => {
    const { fetch } = cannedFetch(csvSource);
    const { ctx, progress } = testContext();
    await runTask(fetch, { sourceUrl: "https://example.com/a", transformations: [], outputFormat: "csv" }, ctx);
    expect(progress).toEqual([30, 60]);
  });
});

describe("failures", () => {
  test("a 5xx source fails with source_status and may be retried", async () => {
    const { fetch } = cannedFetch({ status: 503, body: "busy" });
    const err = await rejectionOf(
      runTask(fetch, { sourceUrl: "https://example.com/a.csv", transformations: [], outputFormat: "json" }),
    );
    expect(err).toBeInstanceOf(TaskFailure);
    expect(err).toMatchObject({ code: "source_status", retryable: true });
    expect((err as Error).message).toContain("503");
  });

  test("a 404 source fails with source_status, not retried", async () => {
    const { fetch } = cannedFetch({ status: 404, body: "not here" });
    const { ctx, progress } = testContext();
    const err = await rejectionOf(
      runTask(fetch, { sourceUrl: "https://example.com/a.csv", transformations: [], outputFormat: "json" }, ctx),
    );
    expect(err).toMatchObject({ code: "source_status", retryable: false });
    expect((err as Error).message).toContain("404");
    expect(progress).toEqual([]);
  });

  test("an unrecognisable source fails with invalid_source, not retried", async () => {
    const { fetch } = cannedFetch({ body: "<html></html>", headers: { "content-type": "text/html" } });
    const err = await rejectionOf(
      runTask(fetch, { sourceUrl: "https://example.com/page", transformations: [], outputFormat: "json" }),
    );
    expect(err).toMatchObject({ code: "invalid_source", retryable: false });
  });

  test("a source that is not what it claims fails with invalid_source", async () => {
    const { fetch } = cannedFetch({ body: '{"not": "an array"}', headers: { "content-type": "application/json" } });
    const err = await rejectionOf(
      runTask(fetch, { sourceUrl: "https://example.com/a", transformations: [], outputFormat: "json" }),
    );
    expect(err).toMatchObject({ code: "invalid_source", retryable: false });
  });

  test("what the fetch throws (a forbidden destination) passes through unchanged", async () => {
    const refusal = new TaskFailure("forbidden_destination", "10.0.0.1 is a private address", false);
    const fetch: SafeFetch = async () => {
      throw refusal;
    };
    const err = await rejectionOf(
      runTask(fetch, { sourceUrl: "http://10.0.0.1/a.csv", transformations: [], outputFormat: "json" }),
    );
    expect(err).toBe(refusal);
  });

  test("an aborted signal stops the task with the signal's reason before the next step", async () => {
    const controller = new AbortController();
    const reason = new Error("cancelled by user");
    const { fetch } = cannedFetch((url) => {
      // The abort lands while the source is being fetched.
      controller.abort(reason);
      return { status: 200, headers: { "content-type": "text/csv" }, body: CSV, url };
    });
    const { ctx, logs } = testContext(controller);
    const err = await rejectionOf(
      runTask(fetch, { sourceUrl: "https://example.com/a", transformations: steps, outputFormat: "json" }, ctx),
    );
    expect(err).toBe(reason);
    expect(logs.some((line) => line.startsWith("parsed"))).toBe(false);
  });

  test("an already aborted signal means no fetch at all", async () => {
    const controller = new AbortController();
    controller.abort(new Error("timed out"));
    const { fetch, calls } = cannedFetch(csvSource);
    const err = await rejectionOf(
      runTask(
        fetch,
        { sourceUrl: "https://example.com/a", transformations: [], outputFormat: "json" },
        testContext(controller).ctx,
      ),
    );
    expect((err as Error).message).toBe("timed out");
    expect(calls).toHaveLength(0);
  });

  test("the schema refuses what the contract does not allow", () => {
    const { schema } = createDataProcessingType(cannedFetch({}).fetch);
    const base = { sourceUrl: "https://example.com/a.csv", transformations: [], outputFormat: "json" };
    expect(schema.safeParse(base).success).toBe(true);
    expect(schema.safeParse({ ...base, sourceUrl: "file:///etc/passwd" }).success).toBe(false);
    expect(schema.safeParse({ ...base, outputFormat: "xml" }).success).toBe(false);
    expect(schema.safeParse({ ...base, sourceFormat: "tsv" }).success).toBe(false);
    expect(schema.safeParse({ ...base, extra: 1 }).success).toBe(false);
    expect(schema.safeParse({ ...base, transformations: [{ op: "limit", count: -1 }] }).success).toBe(false);
    expect(schema.safeParse({ ...base, transformations: [{ op: "limit", count: 1, x: 1 }] }).success).toBe(false);
    const many = Array.from({ length: 51 }, () => ({ op: "limit", count: 1 }));
    expect(schema.safeParse({ ...base, transformations: many }).success).toBe(false);
  });
});

describe("over a local HTTP server", () => {
  let server: ReturnType<typeof Bun.serve>;

  /** A SafeFetch of our own over the platform fetch, with no destination policy: enough for a local test. */
  const localFetch: SafeFetch = async (url, opts) => {
    const res = await fetch(url, { method: opts.method, signal: opts.signal, redirect: "follow" });
    const headers: Record<string, string> = {};
    res.headers.forEach((value, key) => {
      headers[key] = value;
    });
    return { status: res.status, headers, body: await res.text(), url: res.url };
  };

  beforeAll(() => {
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(req) {
        const { pathname } = new URL(req.url);
        if (pathname === "/orders") return new Response(`\uFEFF${CSV}`, { headers: { "content-type": "text/csv" } });
        if (pathname === "/old") return Response.redirect(new URL("/rows.ndjson", req.url).toString(), 302);
        if (pathname === "/rows.ndjson") return new Response('{"a":1}\n{"a":2}\n');
        if (pathname === "/down") return new Response("down", { status: 502 });
        return new Response("no", { status: 404 });
      },
    });
  });

  afterAll(() => {
    server.stop(true);
  });

  test("csv in, aggregated, csv out", async () => {
    const result = await runTask(localFetch, {
      sourceUrl: `${server.url}orders`,
      transformations: [
        {
          op: "aggregate",
          groupBy: ["country"],
          metrics: [
            { fn: "count", as: "orders" },
            { fn: "max", field: "amount", as: "max" },
          ],
        },
        { op: "sort", by: "orders", order: "desc" },
      ],
      outputFormat: "csv",
    });
    expect(result).toEqual({ rowCount: 3, format: "csv", output: "country,orders,max\nFR,2,100\nDE,1,9\nIT,1,\n" });
  });

  test("the format follows the URL that answered after a redirect", async () => {
    const result = await runTask(localFetch, {
      sourceUrl: `${server.url}old`,
      transformations: [{ op: "filter", field: "a", operator: "gt", value: 1 }],
      outputFormat: "json",
    });
    expect(result).toEqual({ rowCount: 1, format: "json", output: [{ a: 2 }] });
  });

  test("5xx and 404 answers", async () => {
    const payload = (path: string) => ({
      sourceUrl: `${server.url}${path}`,
      transformations: [],
      outputFormat: "json",
    });
    expect(await rejectionOf(runTask(localFetch, payload("down")))).toMatchObject({ retryable: true });
    expect(await rejectionOf(runTask(localFetch, payload("missing.csv")))).toMatchObject({
      code: "source_status",
      retryable: false,
    });
  });
});
