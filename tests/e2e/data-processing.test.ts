import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { builtInTypes, TaskCatalog } from "@conveyor/handlers";
import type { Server } from "bun";
import { createTestStack, type TestStack } from "../harness/index.ts";

const CSV = [
  "name,country,amount,note",
  'Ada,FR,10,"likes ""quotes"""',
  "Bo,DE,9,plain",
  'Cy,FR,100,"has, a comma"',
  'Di,US,7,"two\nlines"',
].join("\n");

describe("data_processing end to end", () => {
  let stack: TestStack;
  let server: Server<undefined>;
  let base: string;

  beforeAll(async () => {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/people.csv") return new Response(CSV, { headers: { "content-type": "text/csv" } });
        if (path === "/broken") return new Response("oops", { status: 503 });
        return new Response("missing", { status: 404 });
      },
    });
    base = `http://localhost:${server.port}`;
    stack = await createTestStack({
      label: "dataproc",
      catalog: new TaskCatalog(builtInTypes({ ssrfAllowHosts: ["localhost"] })),
    });
    await stack.startNode({ types: ["data_processing"] });
  });
  afterAll(async () => {
    await stack?.close();
    server?.stop(true);
  });

  async function run(payload: unknown) {
    const res = await stack.request("POST", "/v1/tasks", { type: "data_processing", payload, maxAttempts: 1 });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    return (await (await stack.request("GET", `/v1/tasks/${id}?waitMs=15000`)).json()) as {
      status: string;
      result: { rowCount: number; format: string; output: unknown } | null;
      error: { code: string } | null;
    };
  }

  test("CSV in, filtered numerically, sorted, selected, CSV out with proper quoting", async () => {
    const task = await run({
      sourceUrl: `${base}/people.csv`,
      transformations: [
        { op: "filter", field: "amount", operator: "gte", value: 9 },
        { op: "sort", by: "amount", order: "desc" },
        { op: "select", fields: ["name", "amount", "note"] },
      ],
      outputFormat: "csv",
    });
    expect(task.status).toBe("completed");
    expect(task.result?.rowCount).toBe(3);
    expect(task.result?.output).toBe(
      'name,amount,note\nCy,100,"has, a comma"\nAda,10,"likes ""quotes"""\nBo,9,plain\n',
    );
  });

  test("aggregate to JSON output", async () => {
    const task = await run({
      sourceUrl: `${base}/people.csv`,
      transformations: [
        {
          op: "aggregate",
          groupBy: ["country"],
          metrics: [
            { fn: "count", as: "people" },
            { field: "amount", fn: "sum", as: "total" },
          ],
        },
        { op: "sort", by: "country", order: "asc" },
      ],
      outputFormat: "json",
    });
    expect(task.result?.output).toEqual([
      { country: "DE", people: 1, total: 9 },
      { country: "FR", people: 2, total: 110 },
      { country: "US", people: 1, total: 7 },
    ]);
  });

  test("a source answering 503 fails; a metadata address is refused as forbidden_destination", async () => {
    const task = await run({
      sourceUrl: `${base}/broken`,
      sourceFormat: "csv",
      transformations: [],
      outputFormat: "json",
    });
    expect(task.status).toBe("failed");
    // data_processing checks its destination on the worker (http_request also refuses literals at submit).
    const refused = await run({
      sourceUrl: "http://169.254.169.254/latest/meta-data.json",
      transformations: [],
      outputFormat: "json",
    });
    expect(refused.status).toBe("failed");
    expect(refused.error?.code).toBe("forbidden_destination");
  });
});
