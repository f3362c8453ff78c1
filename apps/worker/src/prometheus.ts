import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RunOutcome } from "./executor.ts";
import { LoopLag } from "./loop-lag.ts";

/** How an attempt ended, as the ledger records it. */
export type AttemptEnd = "completed" | Extract<RunOutcome, { kind: "failed" }>["outcome"];

// Run times reach an hour (`sleep`); waits reach days (`runAt`, long backoffs).
const RUN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400];

/**
 * A worker node's Prometheus metrics, in a registry of its own (tests run several nodes in one
 * process). Counts what this node ran; the cluster-wide view is the sum over nodes.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly completed: Counter<"type">;
  private readonly failed: Counter<"type">;
  private readonly timedOut: Counter<"type">;
  private readonly cancelled: Counter<"type">;
  private readonly retried: Counter<"type">;
  private readonly runSeconds: Histogram<"type">;
  private readonly waitSeconds: Histogram<"type">;
  private readonly loopLag = new LoopLag();

  constructor(active: () => number, concurrency: () => Record<string, number> = () => ({})) {
    const registers = [this.registry];
    const counter = (name: string, help: string) => new Counter({ name, help, labelNames: ["type"], registers });
    this.completed = counter("conveyor_tasks_completed_total", "Tasks this node completed");
    this.failed = counter("conveyor_tasks_failed_total", "Tasks that failed for good on this node (no attempt left)");
    this.timedOut = counter(
      "conveyor_tasks_timed_out_total",
      "Attempts on this node that ran past their timeout (retried or not)",
    );
    this.cancelled = counter("conveyor_tasks_cancelled_total", "Attempts on this node aborted by a cancel");
    this.retried = counter(
      "conveyor_tasks_retried_total",
      "Attempts on this node that failed or timed out and left the task to run again",
    );
    this.runSeconds = new Histogram({
      name: "conveyor_task_run_seconds",
      help: "How long attempts ran on this node, whatever their outcome",
      labelNames: ["type"],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.waitSeconds = new Histogram({
      name: "conveyor_task_wait_seconds",
      help: "How long a task waited from its due time until this node started the attempt",
      labelNames: ["type"],
      buckets: WAIT_BUCKETS,
      registers,
    });
    new Gauge({
      name: "conveyor_worker_active_tasks",
      help: "Attempts running on this node now",
      registers,
      collect() {
        this.set(active());
      },
    });
    new Gauge({
      name: "conveyor_worker_concurrency",
      help: "Local concurrency of each task type on this node now (the autoscaler moves it)",
      labelNames: ["type"],
      registers,
      collect() {
        this.reset();
        for (const [type, n] of Object.entries(concurrency())) this.set({ type }, n);
      },
    });
    const loopLag = this.loopLag;
    new Gauge({
      name: "conveyor_event_loop_lag_seconds",
      help: "Worst event-loop delay on this node since the previous scrape",
      registers,
      collect() {
        this.set(loopLag.takeMaxMs() / 1000);
      },
    });
  }

  /** An attempt began; `dueAt` is when the task became due, so the wait is what it spent queued. */
  attemptStarted(type: string, dueAt: Date, at = Date.now()): void {
    this.waitSeconds.observe({ type }, Math.max(0, at - dueAt.getTime()) / 1000);
  }

  /**
   * An attempt's end was recorded after running `runMs`. `status` is where the ledger left the
   * task: null when it changed nothing, as when a cancel won (the task was already cancelled).
   */
  attemptEnded(type: string, end: AttemptEnd, runMs: number, status: string | null): void {
    this.runSeconds.observe({ type }, runMs / 1000);
    if (end === "timed_out") this.timedOut.inc({ type });
    if (end === "cancelled") this.cancelled.inc({ type });
    else if (status === "completed") this.completed.inc({ type });
    else if (status === "failed") this.failed.inc({ type });
    else if ((status === "queued" || status === "delayed") && end !== "interrupted") this.retried.inc({ type });
  }

  /** Stops sampling the event loop. */
  close(): void {
    this.loopLag.close();
  }
}
