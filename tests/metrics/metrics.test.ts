import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { apiDepsFromRuntime, createApp } from "@conveyor/api";
import { createLogger } from "@conveyor/core";
import { MetricRollup } from "@conveyor/db";
import { createRuntime, type MetricsReport, type SeriesPoint } from "@conveyor/scheduler";
import { createTestStack, eventually, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { submit, testCatalog } from "../lifecycle/support.ts";

const SLEEPS = Array.from({ length: 100 }, (_, i) => (i + 1) * 10);
// What a run adds to the handler's own sleep: ledger, event and log round trips, timers. Generous
// on purpose: this checks that quantiles are right, not how fast anything is.
const OVERHEAD_MS = 60;

/** The value at quantile q of sorted values, as DDSketch ranks them (rank q * (n - 1)). */
function trueQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))] as number;
}

/** Asserts a sketch's estimate of a quantile of the sleeps: 1% relative accuracy, plus run overhead. */
function expectQuantile(actual: number | null, q: number): void {
  const truth = trueQuantile(SLEEPS, q);
  expect(actual).not.toBeNull();
  expect(actual as number).toBeGreaterThanOrEqual(truth * 0.99);
  expect(actual as number).toBeLessThanOrEqual(trueQuantile(SLEEPS, Math.min(1, q + 0.01)) * 1.01 + OVERHEAD_MS);
}

/** The window figures that must survive a restart (the gauges `pending`, `running`, `activeNodes` are of now). */
function persisted(m: MetricsReport) {
  const keep = (f: MetricsReport["byType"][string]) => ({
    completed: f.completed,
    failed: f.failed,
    successRate: f.successRate,
    runTimeMs: f.runTimeMs,
    waitTimeMs: f.waitTimeMs,
  });
  return { ...keep(m), byType: Object.fromEntries(Object.entries(m.byType).map(([t, f]) => [t, keep(f)])) };
}

describe("GET /v1/metrics", () => {
  let stack: TestStack;
  let otherKey: string;

  const metrics = async (query = "window=15m", key = TEST_ADMIN_KEY) => {
    const res = await stack.request("GET", `/v1/metrics?${query}`, undefined, key);
    expect(res.status).toBe(200);
    return (await res.json()) as MetricsReport;
  };

  beforeAll(async () => {
    stack = await createTestStack({ label: "metrics", catalog: testCatalog() });
    const res = await stack.request("POST", "/v1/keys", { tenant: "acme", name: "acme", scopes: ["tasks:write"] });
    expect(res.status).toBe(201);
    otherKey = ((await res.json()) as { key: string }).key;
  });
  afterAll(() => stack?.close());

  test("percentiles, counts, tenants and series of a known run; the same after a restart", async () => {
    const node = await stack.startNode({
      concurrency: { sleep: { min: 100, max: 100 }, flaky: { min: 4, max: 4 }, echo: { min: 4, max: 4 } },
    });
    const shuffled = [...SLEEPS].sort(() => Math.random() - 0.5);
    await Promise.all(shuffled.map((ms) => submit(stack, { type: "sleep", payload: { ms } })));
    await Promise.all([1, 2].map(() => submit(stack, { type: "flaky", payload: { permanent: true } })));
    for (let i = 0; i < 3; i++) {
      const res = await stack.request("POST", "/v1/tasks", { type: "echo", payload: i }, otherKey);
      expect(res.status).toBe(202);
    }

    // Written by the node's periodic flush (every 5 s), not only when it closes.
    const live = await eventually(
      async () => {
        const m = await metrics();
        return m.completed === 103 && m.failed === 2 && m;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: "metrics of every task" },
    );
    expect(live.successRate).toBeCloseTo(103 / 105, 10);
    expect(live.throughputPerSec).toBeGreaterThan(0);
    expect(live.activeNodes).toBe(1);
    expect(live).toMatchObject({ window: "15m", pending: 0, running: 0 });

    const sleep = live.byType.sleep;
    if (!sleep) throw new Error("no sleep metrics");
    expect(sleep).toMatchObject({ completed: 100, failed: 0, successRate: 1, pending: 0, running: 0, activeNodes: 1 });
    expect(sleep.runTimeMs.min as number).toBeGreaterThanOrEqual(10);
    expect(sleep.runTimeMs.max as number).toBeGreaterThanOrEqual(1000);
    expect(sleep.runTimeMs.avg as number).toBeGreaterThanOrEqual(505);
    expect(sleep.runTimeMs.avg as number).toBeLessThanOrEqual(505 + OVERHEAD_MS);
    expectQuantile(sleep.runTimeMs.p50, 0.5);
    expectQuantile(sleep.runTimeMs.p95, 0.95);
    expectQuantile(sleep.runTimeMs.p99, 0.99);
    expect(sleep.waitTimeMs.min as number).toBeGreaterThanOrEqual(0);
    expect(sleep.waitTimeMs.p50).not.toBeNull();
    expect(live.byType.flaky).toMatchObject({ completed: 0, failed: 2, successRate: 0 });
    expect(live.byType.echo).toMatchObject({ completed: 3, failed: 0, successRate: 1 });

    // A tenant key sees its own tenant only.
    const acme = await metrics("window=15m", otherKey);
    expect(acme).toMatchObject({ completed: 3, failed: 0, successRate: 1 });
    expect(Object.keys(acme.byType)).toEqual(["echo"]);
    expect(acme.runTimeMs.p50).not.toBeNull();

    // Series: one point per step, oldest first, adding up to the window's totals.
    const seriesOf = async (query: string, key = TEST_ADMIN_KEY) => {
      const res = await stack.request("GET", `/v1/metrics/series?${query}`, undefined, key);
      expect(res.status).toBe(200);
      return ((await res.json()) as { points: SeriesPoint[] }).points;
    };
    for (const [query, count] of [
      ["window=15m&step=1m", 15],
      ["window=15m&step=5m", 3],
      ["window=1h&step=15m", 4],
    ] as const) {
      const points = await seriesOf(query);
      expect(points).toHaveLength(count);
      expect(points.reduce((n, p) => n + p.completed, 0)).toBe(103);
      expect(points.reduce((n, p) => n + p.failed, 0)).toBe(2);
      const ats = points.map((p) => Date.parse(p.at));
      expect(ats).toEqual([...ats].sort((a, b) => a - b));
      const empty = points.find((p) => p.completed === 0 && p.failed === 0);
      if (empty) expect(empty.runTimeMs).toEqual({ avg: null, min: null, max: null, p50: null, p95: null, p99: null });
    }
    const acmePoints = await seriesOf("window=15m&step=1m", otherKey);
    expect(acmePoints.reduce((n, p) => n + p.completed, 0)).toBe(3);

    // Across a restart: the node writes what it holds as it closes; a fresh runtime reads the same.
    await node.close();
    stack.nodes.splice(stack.nodes.indexOf(node), 1);
    const before = await metrics();
    expect(persisted(before)).toEqual(persisted(live));
    expect(before.activeNodes).toBe(0);

    const log = createLogger("test", "silent");
    const runtime = createRuntime({
      databaseUrl: stack.db.url,
      redis: stack.redis,
      queuePrefix: stack.prefix,
      log,
      appName: "test-metrics-restart",
      catalog: testCatalog(),
    });
    try {
      const app = createApp(apiDepsFromRuntime(runtime, { adminKey: TEST_ADMIN_KEY, log, maxBodyBytes: 1_048_576 }));
      const res = await app.request("/v1/metrics?window=15m", {
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
      });
      expect(res.status).toBe(200);
      expect(persisted((await res.json()) as MetricsReport)).toEqual(persisted(live));
    } finally {
      await runtime.close();
    }
  }, 60_000);

  test("an empty window answers zeros and nulls; the default window is 5m", async () => {
    const res = await stack.request("POST", "/v1/keys", { tenant: "quiet", name: "quiet", scopes: ["tasks:read"] });
    const quietKey = ((await res.json()) as { key: string }).key;
    const m = await metrics("", quietKey);
    expect(m).toMatchObject({
      window: "5m",
      completed: 0,
      failed: 0,
      successRate: null,
      throughputPerSec: 0,
      byType: {},
    });
    expect(m.runTimeMs).toEqual({ avg: null, min: null, max: null, p50: null, p95: null, p99: null });
    expect(m.waitTimeMs.p99).toBeNull();
  });

  test("a bad window or step is a 400 in the contract's error shape", async () => {
    for (const path of [
      "/v1/metrics?window=2m",
      "/v1/metrics?bogus=1",
      "/v1/metrics/series?step=2m",
      "/v1/metrics/series?window=15m&step=1h",
    ]) {
      const res = await stack.request("GET", path);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("validation_failed");
    }
    expect((await stack.request("GET", "/v1/metrics", undefined, null)).status).toBe(401);
  });

  test("the reconciler prunes rollups older than the metrics retention", async () => {
    const store = stack.runtime.ledger.metrics();
    const rollup = new MetricRollup();
    rollup.completed = 1;
    rollup.ended = 1;
    rollup.run.accept(5);
    const old = new Date(Math.floor((Date.now() - 40 * 86_400_000) / 60_000) * 60_000);
    const recent = new Date(Math.floor((Date.now() - 20 * 86_400_000) / 60_000) * 60_000);
    await store.write("old-node", [
      { minute: old, tenant: "prune", type: "echo", rollup },
      { minute: recent, tenant: "prune", type: "echo", rollup },
    ]);
    const report = await stack.reconciler({ metricsRetentionDays: 30 }).runOnce({ force: true });
    expect(report.errors).toEqual([]);
    expect(report.prunedRollups).toBeGreaterThanOrEqual(1);
    const left = await store.read({ tenant: "prune", since: new Date(0), until: new Date() });
    expect(left.map((e) => e.minute.toISOString())).toEqual([recent.toISOString()]);
    expect(left[0]?.rollup.run.summary().p50).toBeCloseTo(5, 0);
  });
});
