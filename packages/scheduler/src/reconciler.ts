import { type Logger, type Priority, queueName, type RedisClient, waitReady, withTimeout } from "@conveyor/core";
import {
  type DbHandle,
  MetricsStore,
  NODE_LOST_AFTER_MS,
  NodeRegistry,
  type PendingCursor,
  ReconcileQueries,
  ScheduleStore,
  type TaskRow,
} from "@conveyor/db";
import type { Dispatcher, DispatchItem } from "./dispatch.ts";
import type { EventPublisher } from "./events.ts";
import { ScheduleClock } from "./schedule/clock.ts";
import { taskEvent } from "./scheduler.ts";

/** A task whose attempts stalled this many times fails with `stalled` (CONTRACT.md, Attempt). */
export const MAX_STALLS = 3;

const DEFAULT_HEARTBEAT_MS = 5000;
const DEFAULT_MIN_AGE_MS = 5000;
const SCAN_BATCH = 1000;
const STALL_BATCH = 500;
const PRUNE_BATCH = 1000;
// Bounds on one run, so a huge backlog is worked through over several runs instead of
// holding the lead (and the database) for minutes.
const MAX_SCAN_PAGES = 1000;
const MAX_PRUNE_BATCHES = 100;
const REDIS_TIMEOUT_MS = 2000;

// Renews the lead only for its holder: a process whose lock expired and was taken must not extend the new holder's.
const RENEW_LEAD = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) end return 0`;
const RELEASE_LEAD = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`;

export interface ReconcilerDeps {
  pg: DbHandle;
  /** A fail-fast connection (the runtime's producer). */
  redis: RedisClient;
  dispatcher: Dispatcher;
  events: EventPublisher;
  log: Logger;
  /** `RECONCILE_INTERVAL_MS`; the leader lock lives twice as long. */
  intervalMs: number;
  /** `TASK_RETENTION_DAYS`: finished tasks older than this are deleted. */
  retentionDays: number;
  /** `METRICS_RETENTION_DAYS`: metric rollups of minutes older than this are deleted (default 30). */
  metricsRetentionDays?: number;
  /** The worker nodes' heartbeat period: a node silent for max(15 s, twice this) is dead. */
  heartbeatMs?: number;
  /** Tasks written more recently than this are left alone: their submit may be adding the job right now (tests: 0). */
  minAgeMs?: number;
  /** Who holds the lead, in the lock's value; unique per process by default. */
  id?: string;
}

/** What one run did. */
export interface ReconcileReport {
  /** False when another process holds the lead and nothing was done. */
  leader: boolean;
  /** Queued or delayed tasks whose job Redis had lost, added again. */
  requeued: number;
  /** Attempts closed as `stalled` because their node died. */
  stalled: number;
  /** Of those, tasks that failed for stalling `MAX_STALLS` times. */
  failed: number;
  /** Attempts of tasks cancelled while their node was dead, closed as `cancelled`. */
  cancelled: number;
  /** Queues paused or resumed in Redis to match PostgreSQL. */
  paused: string[];
  resumed: string[];
  /** Job schedulers re-created (Redis lost them, or their timing differed from PostgreSQL's). */
  schedulesRestored: number;
  /** Job schedulers removed because their schedule is gone or paused. */
  schedulesRemoved: number;
  prunedTasks: number;
  prunedNodes: number;
  prunedRollups: number;
  /** Steps that did not finish (PostgreSQL or Redis away); the next run tries again. */
  errors: string[];
}

type Step = "queues" | "schedules" | "stalled" | "requeue" | "prune";

/**
 * Compares the ledger with Redis and repairs Redis, and closes the attempts of dead nodes.
 * Every process runs one; a Redis lock makes one of them the leader, and only the leader
 * works. Each step is safe to repeat and to race with live workers: jobs are added under the
 * task's job id (never twice), and ledger changes are conditional on the state they expect.
 */
export class Reconciler {
  readonly id: string;
  private readonly queries: ReconcileQueries;
  private readonly nodes: NodeRegistry;
  private readonly metrics: MetricsStore;
  private readonly schedules: ScheduleStore;
  private readonly clock: ScheduleClock;
  private readonly staleMs: number;
  private readonly minAgeMs: number;
  private leading = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<ReconcileReport> | undefined;
  private stopped = false;

  constructor(private readonly deps: ReconcilerDeps) {
    this.id = deps.id ?? crypto.randomUUID();
    this.queries = new ReconcileQueries(deps.pg);
    this.nodes = new NodeRegistry(deps.pg);
    this.metrics = new MetricsStore(deps.pg);
    this.schedules = new ScheduleStore(deps.pg);
    this.clock = new ScheduleClock(deps.redis, deps.dispatcher.prefix, deps.log);
    this.staleMs = Math.max(NODE_LOST_AFTER_MS, 2 * (deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS));
    this.minAgeMs = deps.minAgeMs ?? DEFAULT_MIN_AGE_MS;
  }

  private get leadKey(): string {
    return `${this.deps.dispatcher.prefix}:reconciler:leader`;
  }

  /** Runs now and then every `intervalMs` until `stop()`. */
  start(): void {
    if (this.timer || this.stopped) return;
    const tick = async () => {
      await this.runOnce();
      if (this.stopped) return;
      this.timer = setTimeout(tick, this.deps.intervalMs);
      this.timer.unref?.();
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref?.();
  }

  /** Stops the timer, lets a run in flight finish, and hands the lead over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.clock.close().catch(() => {});
    if (!this.leading) return;
    this.leading = false;
    await this.deps.redis.eval(RELEASE_LEAD, 1, this.leadKey, this.id).catch(() => {});
  }

  /**
   * One pass: re-applies queue pause state, closes dead nodes' attempts, re-adds lost jobs,
   * prunes old tasks and nodes. Does nothing without the lead unless `force`. Never throws:
   * a failed step is in `errors`.
   */
  runOnce(opts: { force?: boolean } = {}): Promise<ReconcileReport> {
    this.running ??= this.run(opts.force ?? false).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(force: boolean): Promise<ReconcileReport> {
    const report: ReconcileReport = {
      leader: false,
      requeued: 0,
      stalled: 0,
      failed: 0,
      cancelled: 0,
      paused: [],
      resumed: [],
      schedulesRestored: 0,
      schedulesRemoved: 0,
      prunedTasks: 0,
      prunedNodes: 0,
      prunedRollups: 0,
      errors: [],
    };
    report.leader = await this.holdLead().catch((err) => {
      report.errors.push(`lead: ${(err as Error).message}`);
      return false;
    });
    if (!report.leader && !force) return report;
    const steps: [Step, () => Promise<void>][] = [
      // Pause first: after Redis lost its state, workers must not start a paused queue's jobs.
      ["queues", () => this.applyQueueSettings(report)],
      ["schedules", () => this.repairSchedules(report)],
      ["stalled", () => this.closeStalled(report)],
      ["requeue", () => this.requeueMissing(report)],
      ["prune", () => this.prune(report)],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (err) {
        report.errors.push(`${name}: ${(err as Error).message}`);
        this.deps.log.warn({ step: name, err: (err as Error).message }, "reconcile step failed");
      }
      // A long run must keep the lead it works under; if another process took it, stop here.
      if (!force && !(await this.holdLead().catch(() => false))) break;
    }
    if (
      report.requeued ||
      report.stalled ||
      report.cancelled ||
      report.paused.length ||
      report.resumed.length ||
      report.schedulesRestored ||
      report.schedulesRemoved
    ) {
      const { errors: _, leader: __, ...counts } = report;
      this.deps.log.info(counts, "reconciled ledger and Redis");
    }
    return report;
  }

  /** Takes the lead if free, or renews it if held; false when another process has it. */
  private async holdLead(): Promise<boolean> {
    const { redis, intervalMs, log } = this.deps;
    const ttl = 2 * intervalMs;
    // The producer connection has no offline queue: a run right after start would fail on it.
    await waitReady(redis, REDIS_TIMEOUT_MS);
    const was = this.leading;
    if (was) this.leading = (await redis.eval(RENEW_LEAD, 1, this.leadKey, this.id, ttl)) === 1;
    if (!this.leading) this.leading = (await redis.set(this.leadKey, this.id, "PX", ttl, "NX")) === "OK";
    if (this.leading !== was) log.info({ reconciler: this.id, leader: this.leading }, "reconciler lead changed");
    return this.leading;
  }

  /** Re-applies each queue's limits, and pauses or resumes it where Redis differs from PostgreSQL. */
  private async applyQueueSettings(report: ReconcileReport): Promise<void> {
    for (const s of await this.queries.queueSettings()) {
      const queue = this.deps.dispatcher.queue(s.type);
      // Limits are re-applied every time: it is one idempotent write, and Redis may have lost them.
      await this.deps.dispatcher.applyLimits(s.type, {
        rateLimit: s.rateLimit ?? null,
        concurrency: s.concurrency ?? null,
      });
      const paused = await withTimeout(queue.isPaused(), REDIS_TIMEOUT_MS, "Redis");
      if (paused === s.paused) continue;
      await withTimeout(s.paused ? queue.pause() : queue.resume(), REDIS_TIMEOUT_MS, "Redis");
      (s.paused ? report.paused : report.resumed).push(s.type);
    }
  }

  /**
   * Re-creates the job schedulers Redis lost (or holds with another timing) from PostgreSQL, and
   * removes those whose schedule is gone or paused. Redis is listed first: a schedule made after
   * that is then in PostgreSQL's answer too, so it is never taken for a deleted one.
   */
  private async repairSchedules(report: ReconcileReport): Promise<void> {
    const listed = await this.clock.listed();
    const { restored, removed } = await this.clock.repair(listed, await this.schedules.active());
    report.schedulesRestored = restored.length;
    report.schedulesRemoved = removed.length;
  }

  /**
   * Closes the attempts of dead nodes and puts their tasks back. BullMQ may still hold the
   * job as active: its lock expires and BullMQ's stalled check returns it to the wait list.
   * A job Redis lost is added again.
   */
  private async closeStalled(report: ReconcileReport): Promise<void> {
    for (;;) {
      const closed = await this.queries.closeStalledAttempts(this.staleMs, MAX_STALLS, STALL_BATCH);
      for (const c of closed) {
        if (c.outcome === "cancelled") report.cancelled++;
        else report.stalled++;
        if (c.taskStatus === "failed") report.failed++;
      }
      const statusOf = new Map(closed.flatMap((c) => (c.taskStatus ? [[c.taskId, c.taskStatus] as const] : [])));
      const moved = await this.queries.tasksByIds([...statusOf.keys()]);
      const requeued = moved.filter((t) => statusOf.get(t.id) === "queued");
      await this.addJobs(await this.missingJobs(requeued), () => 0);
      // Published with the status this run set: a node may already have taken the task again.
      await Promise.all(moved.map((t) => this.deps.events.publish(taskEvent(t, statusOf.get(t.id)))));
      if (closed.length < STALL_BATCH) return;
    }
  }

  /** Adds the job of every queued or delayed task that has none in Redis, under the same job id. */
  private async requeueMissing(report: ReconcileReport): Promise<void> {
    let after: PendingCursor | null = null;
    for (let page = 0; page < MAX_SCAN_PAGES; page++) {
      const { tasks, next } = await this.queries.pendingPage(after, this.minAgeMs, SCAN_BATCH);
      report.requeued += await this.addJobs(await this.missingJobs(tasks), (t) => t.delayMs);
      if (!next || tasks.length < SCAN_BATCH) return;
      after = next;
    }
  }

  /**
   * Adds jobs (same job ids) for tasks Redis has none for; returns how many. A job can finish
   * and leave Redis between the scan and EXISTS: only tasks still waiting under that job id
   * get one. BullMQ counts attempts per job, so a new job carries only the attempts left.
   */
  private async addJobs<T extends Pick<TaskRow, "id" | "jobId" | "type" | "priority" | "maxAttempts">>(
    missing: T[],
    delayOf: (t: T) => number,
  ): Promise<number> {
    if (missing.length === 0) return 0;
    const failures = await this.queries.stillPending(missing);
    const items = missing.flatMap((t) => {
      const failed = failures.get(t.id);
      if (failed === undefined) return [];
      return [{ ...dispatchItem(t, delayOf(t)), maxAttempts: Math.max(1, t.maxAttempts - failed) }];
    });
    if (items.length > 0) await this.deps.dispatcher.addMany(items);
    return items.length;
  }

  /** The tasks whose job hash (`<prefix>:{type}:<jobId>`) is not in Redis; one pipeline per queue. */
  private async missingJobs<T extends { type: string; jobId: string }>(tasks: T[]): Promise<T[]> {
    const missing: T[] = [];
    // Grouped by type: a queue's keys share one hash slot, so each pipeline suits Redis Cluster.
    for (const [type, group] of Map.groupBy(tasks, (t) => t.type)) {
      const pipeline = this.deps.redis.pipeline();
      for (const t of group) pipeline.exists(`${this.deps.dispatcher.prefix}:${queueName(type)}:${t.jobId}`);
      const results = await withTimeout(pipeline.exec(), REDIS_TIMEOUT_MS, "Redis");
      group.forEach((t, i) => {
        const [err, exists] = results?.[i] ?? [new Error("no answer"), null];
        if (err) throw err;
        if (exists === 0) missing.push(t);
      });
    }
    return missing;
  }

  /** Deletes finished tasks and metric rollups past retention (in batches) and nodes silent for over an hour. */
  private async prune(report: ReconcileReport): Promise<void> {
    report.prunedTasks = await inBatches((limit) =>
      this.queries.pruneFinishedTasks(this.deps.retentionDays * 86_400_000, limit),
    );
    report.prunedNodes = await this.nodes.pruneNodes();
    report.prunedRollups = await inBatches((limit) =>
      this.metrics.prune((this.deps.metricsRetentionDays ?? 30) * 86_400_000, limit),
    );
  }
}

/** Runs a batched delete until a batch comes back short (at most MAX_PRUNE_BATCHES); the rows deleted. */
async function inBatches(deleteBatch: (limit: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_PRUNE_BATCHES; i++) {
    const n = await deleteBatch(PRUNE_BATCH);
    total += n;
    if (n < PRUNE_BATCH) break;
  }
  return total;
}

function dispatchItem(
  t: Pick<TaskRow, "id" | "jobId" | "type" | "priority" | "maxAttempts">,
  delayMs: number,
): DispatchItem {
  return {
    taskId: t.id,
    jobId: t.jobId,
    type: t.type,
    priority: t.priority as Priority,
    delayMs,
    maxAttempts: t.maxAttempts,
  };
}
