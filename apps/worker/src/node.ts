import { hostname } from "node:os";
import {
  createRedis,
  type Logger,
  queueName,
  type ReadinessCheck,
  type RedisClient,
  type RedisTarget,
  type TaskError,
  type TaskStatus,
  waitReady,
} from "@conveyor/core";
import type { Ledger, TaskRow, TaskState } from "@conveyor/db";
import type { TaskCatalog, TaskType } from "@conveyor/handlers";
import { backoffDelay, cancelChannel, type EventPublisher, type JobData, taskEvent } from "@conveyor/scheduler";
import { type Job, UnrecoverableError, WaitingError, Worker } from "bullmq";
import workerPackage from "../package.json" with { type: "json" };
import { createWorkerHttp } from "./app.ts";
import { Autoscaler, type AutoscalerSettings, queueBacklog, type ScalablePool } from "./autoscaler.ts";
import type { ConcurrencyRange } from "./concurrency.ts";
import { execute, type RunOutcome } from "./executor.ts";
import { Heartbeat } from "./heartbeat.ts";
import { MetricsRecorder } from "./metrics.ts";
import { persist } from "./persist.ts";
import { ProgressReporter } from "./progress.ts";
import { type AttemptEnd, WorkerMetrics } from "./prometheus.ts";
import { TaskLog } from "./task-log.ts";

/** How long BullMQ may take to close once every run has settled, before it is forced. */
const CLOSE_MARGIN_MS = 5_000;

export interface WorkerNodeDeps {
  ledger: Ledger;
  catalog: TaskCatalog;
  events: EventPublisher;
  redis: RedisTarget;
  queuePrefix: string;
  log: Logger;
  /** Task types this node serves (default: all in the catalog). */
  types?: string[];
  /** Per-type local concurrency (default: the type's own range). */
  concurrency?: Record<string, ConcurrencyRange>;
  /** What `/readyz` checks. */
  checks?: Record<string, ReadinessCheck>;
  lockMs: number;
  nodeId?: string;
  version?: string;
  /** How often the node reports it is alive (default 5 s; tests use less). */
  heartbeatMs?: number;
  /** How often per-minute metrics are written to PostgreSQL (default 5 s). */
  metricsFlushMs?: number;
  /** `GET /metrics` on the node's HTTP app (METRICS_ENABLED); default true. */
  metricsEnabled?: boolean;
  /**
   * Moves each type's local concurrency between its minimum and maximum as backlog and headroom
   * say (default: on, `AUTOSCALER_DEFAULTS`; tests use a shorter interval). `false`: every type
   * runs at its maximum.
   */
  autoscale?: Partial<AutoscalerSettings> | false;
}

/** One type's BullMQ Worker and how many of its slots are in use. */
interface TypeSlots {
  worker: Worker<JobData>;
  /** The Worker's own (non-blocking) connection. */
  connection: RedisClient;
  range: ConcurrencyRange;
  inUse: number;
  /** The most slots in use at once since the autoscaler last looked. */
  peak: number;
}

/** Carries the delay the ledger recorded for a retry to BullMQ's custom backoff strategy. */
class RetryLater extends Error {
  override name = "RetryLater";
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

/** A new node id: host, pid and a random suffix, unique across restarts. */
export function newNodeId(): string {
  return `${hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * A worker node: one BullMQ Worker per task type. Each job opens an attempt in the ledger,
 * runs the handler under its timeout and cancel signal, and records the outcome in the
 * ledger before the job returns to BullMQ.
 */
export class WorkerNode {
  readonly id: string;
  readonly types: string[];
  private readonly slots = new Map<string, TypeSlots>();
  private autoscaler: Autoscaler | undefined;
  private readonly connections: RedisClient[] = [];
  private readonly shutdown = new AbortController();
  private readonly active = new Set<string>();
  /** This node's run of each task it is running, by task id. */
  private readonly runs = new Map<string, Promise<void>>();
  private closed = false;
  /** Set by `kill()`: the node behaves as a dead process and writes nothing more. */
  private killed = false;
  private heartbeat: Heartbeat | undefined;
  private readonly progress: ProgressReporter;
  private readonly taskLog: TaskLog;
  private readonly metrics: MetricsRecorder;
  /** What `GET /metrics` serves; undefined when metrics are off. */
  private readonly prometheus: WorkerMetrics | undefined;
  /** `/healthz`, `/readyz` and `/metrics` for this node. */
  readonly http: ReturnType<typeof createWorkerHttp>;

  constructor(private readonly deps: WorkerNodeDeps) {
    this.id = deps.nodeId ?? newNodeId();
    this.progress = new ProgressReporter(deps.ledger, deps.events, deps.log);
    this.taskLog = new TaskLog(deps.ledger, deps.log);
    this.metrics = new MetricsRecorder(deps.ledger.metrics(), this.id, deps.log, deps.metricsFlushMs);
    this.types = deps.types?.length ? deps.types : deps.catalog.types;
    for (const t of this.types) deps.catalog.get(t);
    this.prometheus =
      (deps.metricsEnabled ?? true)
        ? new WorkerMetrics(
            () => this.active.size,
            () => this.concurrency,
          )
        : undefined;
    this.http = createWorkerHttp(this, deps.checks ?? {}, this.prometheus?.registry);
  }

  /** Starts taking jobs for every served type. */
  async start(): Promise<void> {
    const autoscale = this.deps.autoscale ?? {};
    for (const type of this.types) {
      const def = this.deps.catalog.get(type);
      const range = this.deps.concurrency?.[type] ?? def.defaults.concurrency;
      const connection = createRedis(this.deps.redis, "worker", `conveyor-worker-${type}`);
      this.connections.push(connection);
      const worker = new Worker<JobData>(
        queueName(type),
        (job, token, signal) => this.occupy(type, () => this.process(def, job, token, signal)),
        {
          connection,
          prefix: this.deps.queuePrefix,
          // The autoscaler starts a type at its minimum and moves it from there.
          concurrency: autoscale === false ? range.max : range.min,
          lockDuration: this.deps.lockMs,
          stalledInterval: Math.floor(this.deps.lockMs / 2),
          // Our ledger counts stalls; BullMQ would otherwise fail a job on its second stall.
          maxStalledCount: 3,
          autorun: false,
          settings: {
            backoffStrategy: (_attempts, _type, err) => (err instanceof RetryLater ? err.delayMs : 1000),
          },
        },
      );
      worker.on("error", (err) => this.deps.log.warn({ type, err: err.message }, "worker error"));
      worker.on("failed", (job, err) => {
        // Our own endings (retry later, no retry, handed back) are recorded already; anything
        // else is a bug on the way to the ledger and must be seen.
        if (err instanceof RetryLater || err instanceof UnrecoverableError || err instanceof WaitingError) return;
        this.deps.log.error(
          { type, jobId: job?.id, err: { name: err.name, message: err.message, stack: err.stack } },
          "job failed outside the handler",
        );
      });
      this.slots.set(type, { worker, connection, range, inUse: 0, peak: 0 });
      void worker.run().catch((err) => this.deps.log.error({ type, err: (err as Error).message }, "worker stopped"));
    }
    await Promise.all(this.bullWorkers().map((w) => w.waitUntilReady()));
    await this.listenForCancels();
    const producer = await this.startHeartbeat();
    if (autoscale !== false) this.startAutoscaler(producer, autoscale);
    this.metrics.start();
    this.deps.log.info({ node: this.id, types: this.types }, "worker node started");
  }

  /** Announces the node (row and Redis key) and keeps it alive on its own fail-fast connection. */
  private async startHeartbeat(): Promise<RedisClient> {
    const redis = createRedis(this.deps.redis, "producer", "conveyor-worker-heartbeat");
    redis.on("error", (err) => this.deps.log.debug({ err: err.message }, "heartbeat connection error"));
    this.connections.push(redis);
    await waitReady(redis).catch(() => {});
    this.heartbeat = new Heartbeat({
      node: {
        id: this.id,
        host: hostname(),
        pid: process.pid,
        version: this.deps.version ?? workerPackage.version,
        types: this.types,
      },
      nodes: this.deps.ledger.nodes(),
      redis,
      prefix: this.deps.queuePrefix,
      log: this.deps.log,
      intervalMs: this.deps.heartbeatMs,
      stats: () => ({
        active: this.active.size,
        concurrency: this.concurrency,
      }),
    });
    await this.heartbeat.start();
    return redis;
  }

  /** Backlogs are read on the heartbeat's fail-fast connection: a look never waits behind an outage. */
  private startAutoscaler(redis: RedisClient, settings: Partial<AutoscalerSettings>): void {
    const pools: ScalablePool[] = [...this.slots].map(([type, s]) => ({
      type,
      range: s.range,
      get concurrency() {
        return s.worker.concurrency;
      },
      resize: (n) => {
        // One Worker per type. A cut lets running jobs finish and fetches no more until below it.
        const raised = n > s.worker.concurrency;
        s.worker.concurrency = n;
        if (raised) wakeMainLoop(s.worker);
      },
      takePeak: () => {
        const peak = s.peak;
        s.peak = s.inUse;
        return peak;
      },
    }));
    this.autoscaler = new Autoscaler({
      pools,
      backlog: (type) => queueBacklog(redis, this.deps.queuePrefix, queueName(type)),
      log: this.deps.log,
      settings,
    });
    this.autoscaler.start();
  }

  /** The local concurrency of each served type now (what the heartbeat reports). */
  get concurrency(): Record<string, number> {
    return Object.fromEntries([...this.slots].map(([type, s]) => [type, s.worker.concurrency]));
  }

  /** The BullMQ Worker of each served type. */
  private bullWorkers(): Worker<JobData>[] {
    return [...this.slots.values()].map((s) => s.worker);
  }

  /** Counts a BullMQ slot of `type` as used while `run` runs (the autoscaler's measure of use). */
  private async occupy<T>(type: string, run: () => Promise<T>): Promise<T> {
    const s = this.slots.get(type);
    if (!s) return run();
    s.inUse++;
    s.peak = Math.max(s.peak, s.inUse);
    try {
      return await run();
    } finally {
      s.inUse--;
    }
  }

  /**
   * Cancels reach every node over pub/sub; the node running the job aborts its signal
   * (`worker.cancelJob`), the others find nothing to cancel.
   */
  private async listenForCancels(): Promise<void> {
    const sub = createRedis(this.deps.redis, "worker", "conveyor-worker-cancels");
    this.connections.push(sub);
    sub.on("message", (_channel: string, jobId: string) => {
      for (const { worker } of this.slots.values()) worker.cancelJob(jobId, "cancelled by request");
    });
    await sub.subscribe(cancelChannel(this.deps.queuePrefix));
  }

  /** Jobs running now on this node. */
  get activeCount(): number {
    return this.active.size;
  }

  private process(def: TaskType, job: Job<JobData>, token: string | undefined, cancel?: AbortSignal): Promise<void> {
    const taskId = job.data.taskId;
    const running = this.runs.get(taskId);
    if (running) {
      // BullMQ handed back a job this node still runs (its lock lapsed while the event loop was
      // blocked): a second run would start the handler again here. Hold the job until the first
      // run has written its outcome, then end it; a retry that run asked for has no job left,
      // and the reconciler adds it again as for any job Redis lost.
      return running.then(
        () => undefined,
        () => undefined,
      );
    }
    const run = this.runAttempt(def, job, token, cancel).finally(() => this.runs.delete(taskId));
    this.runs.set(taskId, run);
    return run;
  }

  private async runAttempt(
    def: TaskType,
    job: Job<JobData>,
    token: string | undefined,
    cancel?: AbortSignal,
  ): Promise<void> {
    const { ledger, events, log } = this.deps;
    const taskId = job.data.taskId;
    const started = await persist(log, "start attempt", () => ledger.startAttempt(taskId, this.id));
    if (!started) {
      // Cancelled or finished while it waited: nothing to run.
      return;
    }
    this.active.add(taskId);
    const startedAt = performance.now();
    try {
      const { task, n } = started;
      this.metrics.recordStart(task, started.waitMs);
      this.prometheus?.attemptStarted(task.type, task.dueAt);
      // Not awaited: the handler need not wait for Redis. Events leave in order (one FIFO batcher).
      void events.publish(taskEvent(task));
      const outcome = await execute(
        def,
        task.payload,
        {
          attempt: n,
          taskId,
          progress: (p) => this.onProgress(task, p),
          log: (message, level = "info") => this.taskLog.write(taskId, n, message, level),
        },
        { timeoutMs: task.timeoutMs, cancel, shutdown: this.shutdown.signal },
      );
      this.progress.forget(taskId);
      await this.taskLog.end(taskId, n);
      await this.record(task, n, outcome, job, token, performance.now() - startedAt);
    } finally {
      this.active.delete(taskId);
    }
  }

  /** Writes the attempt's end to the ledger (retrying until PostgreSQL answers), then tells BullMQ. */
  private async record(
    task: TaskRow,
    n: number,
    outcome: RunOutcome,
    job: Job<JobData>,
    token: string | undefined,
    runMs: number,
  ): Promise<void> {
    // A killed process never gets to write its outcome nor answer BullMQ: leave the attempt open.
    if (this.killed) return new Promise<never>(() => {});
    const { ledger, log } = this.deps;
    if (outcome.kind === "completed") {
      const row = await persist(log, "complete", () =>
        ledger.finishAttempt({
          taskId: task.id,
          n,
          outcome: "completed",
          error: null,
          status: "completed",
          result: outcome.result,
        }),
      );
      this.ended(task, "completed", runMs, row);
      return;
    }
    // BullMQ counts failed attempts only: stalls and interruptions do not use one up.
    const failures = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? task.maxAttempts;
    const again = outcome.retryable && (outcome.outcome === "interrupted" || failures < maxAttempts);
    const delayMs = again && outcome.outcome !== "interrupted" ? backoffDelay(task.backoff, failures) : 0;
    const status: TaskStatus = again
      ? delayMs > 0
        ? "delayed"
        : "queued"
      : outcome.outcome === "cancelled"
        ? "cancelled"
        : "failed";
    const error: TaskError = outcome.error;
    const row = await persist(log, "fail", () =>
      ledger.finishAttempt({
        taskId: task.id,
        n,
        outcome: outcome.outcome,
        error,
        status,
        dueAt: again ? new Date(Date.now() + delayMs) : undefined,
      }),
    );
    this.ended(task, outcome.outcome, runMs, row);
    if (!again) throw new UnrecoverableError(`${error.code}: ${error.message}`);
    if (outcome.outcome === "interrupted") {
      // Handed back by a draining node: back to waiting without using up an attempt.
      await job.moveToWait(token);
      await this.wakeWorkers(task.type);
      throw new WaitingError();
    }
    throw new RetryLater(`${error.code}: ${error.message}`, delayMs);
  }

  /**
   * Counts an attempt's end (ledger rollups and Prometheus) and publishes the task's new state;
   * `row` is null when the write changed nothing (a cancel won).
   */
  private ended(task: TaskRow, end: AttemptEnd, runMs: number, row: TaskState | null): void {
    this.metrics.recordEnd(task, end, runMs, row?.status ?? null);
    this.prometheus?.attemptEnded(task.type, end, runMs, row?.status ?? null);
    // Not awaited, as at the start: events leave in order through one FIFO batcher.
    if (row) void this.deps.events.publish(taskEvent(row));
  }

  /**
   * BullMQ 6.7 puts a prioritized job back in the queue (`moveToWait`) without the marker that
   * wakes blocked workers, so other nodes would see it only when their blocking wait times out
   * (seconds). Every Conveyor job has a priority: add the marker, as an add would.
   */
  private async wakeWorkers(type: string): Promise<void> {
    const s = this.slots.get(type);
    if (!s) return;
    await s.connection
      .zadd(s.worker.toKey("marker"), 0, "0")
      .catch((err) => this.deps.log.debug({ type, err: (err as Error).message }, "queue marker not added"));
  }

  private onProgress(task: TaskRow, percent: number): void {
    if (this.killed) return;
    this.progress.report(task, percent);
  }

  /** Stops taking jobs, waits up to `graceMs` for running ones, then interrupts the rest. */
  async close(graceMs = 0): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const workers = this.bullWorkers();
    // Closing a Worker stops its fetching at once; its running jobs go on.
    const drained = Promise.all(workers.map((w) => w.close()));
    const timer = setTimeout(() => this.shutdown.abort(new Error("grace period over")), graceMs);
    await this.autoscaler?.stop();
    if (!(await this.settles(drained, graceMs))) {
      // Every run has written its outcome, yet BullMQ's close still waits: seen with a blocking
      // Redis Cluster connection reconnecting after a master restart. What BullMQ had left to
      // say about those jobs is covered by the ledger (a job run again finds its task final).
      this.deps.log.warn({ node: this.id }, "BullMQ workers did not close after the drain; forcing them");
      await Promise.race([Promise.allSettled(workers.map((w) => w.close(true))), Bun.sleep(CLOSE_MARGIN_MS)]);
    }
    clearTimeout(timer);
    // Beating until the drain is over: a node finishing long tasks is alive, not lost.
    await this.heartbeat?.leave();
    this.progress.stop();
    await this.taskLog.flush();
    this.taskLog.stop();
    await this.metrics.close();
    this.prometheus?.close();
    for (const c of this.connections) c.disconnect();
    this.deps.log.info({ node: this.id }, "worker node stopped");
  }

  /**
   * True when `drained` resolves; false when, `graceMs` after the drain began and once every run
   * of this node has settled, it still has not within `CLOSE_MARGIN_MS`.
   */
  private async settles(drained: Promise<unknown>, graceMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = (async () => {
      await new Promise((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      while (this.runs.size > 0) await Promise.allSettled([...this.runs.values()]);
      await new Promise((resolve) => {
        timer = setTimeout(resolve, CLOSE_MARGIN_MS);
      });
      return false;
    })();
    try {
      return await Promise.race([drained.then(() => true), stuck]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** While closing, ends the grace period now: running tasks are handed back (`interrupted`). */
  interrupt(): void {
    // Before close the node still fetches: an aborted signal would hand back every job it took.
    if (this.closed && !this.killed) this.shutdown.abort(new Error("interrupted"));
  }

  /**
   * For fault tests: leaves what a SIGKILL would. No ledger write, no lock release, no
   * goodbye: attempts stay `running`, locks expire on their own, the row goes stale.
   */
  async kill(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.killed = true;
    await this.autoscaler?.stop();
    await this.heartbeat?.stop();
    // Handlers stop where they are; what they return is dropped (see `record`).
    this.progress.stop();
    this.taskLog.stop();
    this.metrics.stop();
    this.prometheus?.close();
    this.shutdown.abort(new Error("killed"));
    await Promise.allSettled(this.bullWorkers().map((w) => w.close(true)));
    for (const c of this.connections) c.disconnect();
  }
}

/**
 * With every slot busy, BullMQ's main loop waits for a running job to end before it looks at
 * `concurrency` again: a raise would wait as long as the shortest running task (an hour for a
 * long `sleep`). An already-settled entry in its queue makes it look now, as `Worker.resume()`
 * does. `mainLoopQueue` is private in BullMQ 6.7 (pinned); without it, raises wait as before.
 */
function wakeMainLoop(worker: Worker<JobData>): void {
  const loop = (worker as unknown as { mainLoopQueue?: { add(p: Promise<unknown>): void } | null }).mainLoopQueue;
  loop?.add(Promise.resolve());
}

/** Builds a worker node; call `start()` to take jobs. */
export function createWorkerNode(deps: WorkerNodeDeps): WorkerNode {
  return new WorkerNode(deps);
}
