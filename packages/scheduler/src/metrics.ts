import { type Backlog, MetricRollup, type MetricsStore, type RollupEntry, type TimeSummary } from "@conveyor/db";
import { z } from "zod";

const MINUTE_MS = 60_000;

/** The windows and steps `GET /v1/metrics` and `/series` accept, in ms. */
export const METRICS_SPANS = {
  "1m": MINUTE_MS,
  "5m": 5 * MINUTE_MS,
  "15m": 15 * MINUTE_MS,
  "1h": 60 * MINUTE_MS,
  "24h": 1440 * MINUTE_MS,
};
export type MetricsWindow = keyof typeof METRICS_SPANS;

const Window = z.enum(Object.keys(METRICS_SPANS) as [MetricsWindow, ...MetricsWindow[]]);
const Step = Window.exclude(["24h"]);

/** The query of `GET /v1/metrics`. */
export const MetricsQuery = z.strictObject({
  window: Window.default("5m").describe("How many whole minutes, up to and including the current one"),
});

/** The query of `GET /v1/metrics/series`. */
export const MetricsSeriesQuery = z
  .strictObject({
    window: Window.default("1h"),
    step: Step.default("1m").describe("The span of one point; at most `window`"),
  })
  .refine((q) => METRICS_SPANS[q.step] <= METRICS_SPANS[q.window], {
    path: ["step"],
    message: "step must not be longer than window",
  });

/** What `GET /v1/metrics` reports for a window, overall and per type. */
export interface MetricsFigures {
  throughputPerSec: number;
  completed: number;
  failed: number;
  successRate: number | null;
  runTimeMs: TimeSummary;
  waitTimeMs: TimeSummary;
  pending: number;
  running: number;
  activeNodes: number;
}

export interface MetricsReport extends MetricsFigures {
  window: MetricsWindow;
  byType: Record<string, MetricsFigures>;
}

export interface SeriesPoint {
  at: string;
  completed: number;
  failed: number;
  runTimeMs: TimeSummary;
  waitTimeMs: TimeSummary;
}

/** The first minute of a window of `spanMs` whose last minute is the current one. */
function windowStart(now: number, spanMs: number): number {
  return Math.floor(now / MINUTE_MS) * MINUTE_MS + MINUTE_MS - spanMs;
}

function figures(r: MetricRollup, seconds: number, backlog: Backlog, activeNodes: number): MetricsFigures {
  const ended = r.completed + r.failed;
  return {
    throughputPerSec: Math.round((ended / seconds) * 1000) / 1000,
    completed: r.completed,
    failed: r.failed,
    successRate: ended === 0 ? null : r.completed / ended,
    runTimeMs: r.run.summary(),
    waitTimeMs: r.wait.summary(),
    pending: backlog.pending,
    running: backlog.running,
    activeNodes,
  };
}

const NO_BACKLOG: Backlog = { pending: 0, running: 0 };

/**
 * Task metrics over whole minutes, the current one included, so what just ended shows at
 * once. Rollups are per minute: merging their sketches gives the window's true quantiles.
 * `throughputPerSec` counts tasks that reached `completed` or `failed`, over the time the
 * window has really covered (its current minute only so far).
 */
export async function metricsReport(
  store: MetricsStore,
  q: { tenant: string | null; window: MetricsWindow },
  now = Date.now(),
): Promise<MetricsReport> {
  const since = windowStart(now, METRICS_SPANS[q.window]);
  const [entries, backlog, nodes] = await Promise.all([
    store.read({ tenant: q.tenant, since: new Date(since), until: new Date(since + METRICS_SPANS[q.window]) }),
    store.backlog(q.tenant),
    store.activeNodes(),
  ]);
  const seconds = Math.max(1, (now - since) / 1000);
  const total = new MetricRollup();
  const perType = new Map<string, MetricRollup>();
  for (const e of entries) {
    total.merge(e.rollup);
    let t = perType.get(e.type);
    if (!t) perType.set(e.type, (t = new MetricRollup()));
    t.merge(e.rollup);
  }
  const nodesOf = (type: string) => nodes.filter((types) => types.includes(type)).length;
  const byType: Record<string, MetricsFigures> = {};
  for (const type of [...new Set([...perType.keys(), ...backlog.keys()])].sort()) {
    byType[type] = figures(
      perType.get(type) ?? new MetricRollup(),
      seconds,
      backlog.get(type) ?? NO_BACKLOG,
      nodesOf(type),
    );
  }
  const sum = { pending: 0, running: 0 };
  for (const b of backlog.values()) {
    sum.pending += b.pending;
    sum.running += b.running;
  }
  return { window: q.window, ...figures(total, seconds, sum, nodes.length), byType };
}

/** One point per `step` over `window` (the last one holding the current minute); empty steps have zeros and nulls. */
export async function metricsSeries(
  store: MetricsStore,
  q: { tenant: string | null; window: MetricsWindow; step: keyof typeof METRICS_SPANS },
  now = Date.now(),
): Promise<{ points: SeriesPoint[] }> {
  const stepMs = METRICS_SPANS[q.step];
  // Steps are aligned to the clock (a 5m point starts at :00, :05, ...), the last one holding now.
  const last = Math.floor(now / stepMs) * stepMs;
  const count = Math.max(1, Math.floor(METRICS_SPANS[q.window] / stepMs));
  const since = last - (count - 1) * stepMs;
  const entries: RollupEntry[] = await store.read({
    tenant: q.tenant,
    since: new Date(since),
    until: new Date(last + stepMs),
  });
  const buckets = Array.from({ length: count }, () => new MetricRollup());
  for (const e of entries) buckets[Math.floor((e.minute.getTime() - since) / stepMs)]?.merge(e.rollup);
  return {
    points: buckets.map((r, i) => ({
      at: new Date(since + i * stepMs).toISOString(),
      completed: r.completed,
      failed: r.failed,
      runTimeMs: r.run.summary(),
      waitTimeMs: r.wait.summary(),
    })),
  };
}
