import { afterEach, describe, expect, test } from "bun:test";
import { WorkerMetrics } from "./prometheus.ts";

const sample = (text: string, series: string) =>
  text
    .split("\n")
    .find((l) => l.startsWith(`${series} `))
    ?.slice(series.length + 1);

describe("WorkerMetrics", () => {
  let metrics: WorkerMetrics | undefined;
  afterEach(() => metrics?.close());

  test("an attempt's end counts by where the ledger left its task", async () => {
    metrics = new WorkerMetrics(() => 2);
    metrics.attemptEnded("echo", "completed", 12, "completed");
    // A cancel won the race: the ledger changed nothing, the completion is not counted.
    metrics.attemptEnded("echo", "completed", 12, null);
    metrics.attemptEnded("sleep", "timed_out", 100, "delayed");
    metrics.attemptEnded("sleep", "timed_out", 100, "failed");
    metrics.attemptEnded("sleep", "cancelled", 5, null);
    // Handed back by a draining node: neither a failure nor a retry.
    metrics.attemptEnded("sleep", "interrupted", 5, "queued");
    metrics.attemptStarted("echo", new Date(Date.now() - 1500));

    const text = await metrics.registry.metrics();
    expect(sample(text, 'conveyor_tasks_completed_total{type="echo"}')).toBe("1");
    expect(sample(text, 'conveyor_tasks_timed_out_total{type="sleep"}')).toBe("2");
    expect(sample(text, 'conveyor_tasks_retried_total{type="sleep"}')).toBe("1");
    expect(sample(text, 'conveyor_tasks_failed_total{type="sleep"}')).toBe("1");
    expect(sample(text, 'conveyor_tasks_cancelled_total{type="sleep"}')).toBe("1");
    expect(sample(text, 'conveyor_task_run_seconds_count{type="sleep"}')).toBe("4");
    expect(sample(text, 'conveyor_task_run_seconds_count{type="echo"}')).toBe("2");
    expect(sample(text, 'conveyor_task_wait_seconds_bucket{le="1",type="echo"}')).toBe("0");
    expect(sample(text, 'conveyor_task_wait_seconds_bucket{le="2.5",type="echo"}')).toBe("1");
    expect(sample(text, "conveyor_worker_active_tasks")).toBe("2");
  });

  test("each type's local concurrency is a gauge of its own", async () => {
    let now: Record<string, number> = { echo: 10, sleep: 4 };
    metrics = new WorkerMetrics(
      () => 0,
      () => now,
    );
    let text = await metrics.registry.metrics();
    expect(sample(text, 'conveyor_worker_concurrency{type="echo"}')).toBe("10");
    expect(sample(text, 'conveyor_worker_concurrency{type="sleep"}')).toBe("4");
    now = { sleep: 40 };
    text = await metrics.registry.metrics();
    expect(sample(text, 'conveyor_worker_concurrency{type="sleep"}')).toBe("40");
    expect(sample(text, 'conveyor_worker_concurrency{type="echo"}')).toBeUndefined();
  });

  test("event-loop lag shows a stall since the previous scrape", async () => {
    metrics = new WorkerMetrics(() => 0);
    await Bun.sleep(60);
    const until = performance.now() + 150;
    while (performance.now() < until) {
      // Holds the loop, as a handler doing CPU work would.
    }
    await Bun.sleep(60);
    const lag = Number(sample(await metrics.registry.metrics(), "conveyor_event_loop_lag_seconds"));
    expect(lag).toBeGreaterThanOrEqual(0.1);
  });
});
