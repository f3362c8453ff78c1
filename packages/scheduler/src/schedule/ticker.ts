import { createRedis, type Logger, type RedisClient, type RedisTarget, SCHEDULES_QUEUE } from "@conveyor/core";
import { type Job, Worker } from "bullmq";
import type { Schedules } from "../schedules.ts";
import type { TickData } from "./clock.ts";

export interface ScheduleTickerDeps {
  schedules: Schedules;
  redis: RedisTarget;
  queuePrefix: string;
  log: Logger;
  /** Ticks handled at once by this process (default 4). */
  concurrency?: number;
  /** BullMQ lock duration of a tick job (default 30 s). */
  lockMs?: number;
}

/**
 * The tick time a job scheduler's job stands for. BullMQ names each job `repeat:<id>:<ms>` and
 * keeps the same instant in `opts.prevMillis`; the job's due time is the last resort.
 */
export function tickTime(job: Pick<Job, "id" | "opts" | "timestamp" | "delay">): Date {
  const prev = Number(job.opts.prevMillis);
  if (Number.isFinite(prev) && prev > 0) return new Date(prev);
  const fromId = Number(job.id?.split(":").at(-1));
  if (Number.isFinite(fromId) && fromId > 0) return new Date(fromId);
  return new Date(job.timestamp + (job.delay ?? 0));
}

/**
 * Takes the ticks of every schedule from the `{__schedules}` queue and turns each into its run's
 * task. Every worker process runs one; BullMQ hands each tick to one of them, and the ledger's
 * unique (schedule, tick) index makes a tick handled twice (a stalled job) insert nothing.
 */
export class ScheduleTicker {
  private worker: Worker<TickData> | undefined;
  private connection: RedisClient | undefined;

  constructor(private readonly deps: ScheduleTickerDeps) {}

  async start(): Promise<void> {
    if (this.worker) return;
    const { log } = this.deps;
    this.connection = createRedis(this.deps.redis, "worker", "conveyor-schedule-ticker");
    const lockMs = this.deps.lockMs ?? 30_000;
    this.worker = new Worker<TickData>(SCHEDULES_QUEUE, (job) => this.process(job), {
      connection: this.connection,
      prefix: this.deps.queuePrefix,
      concurrency: this.deps.concurrency ?? 4,
      lockDuration: lockMs,
      stalledInterval: Math.floor(lockMs / 2),
    });
    this.worker.on("error", (err) => log.warn({ err: err.message }, "schedule ticker error"));
    this.worker.on("failed", (job, err) =>
      log.warn({ schedule: job?.data.scheduleId, err: err.message }, "schedule tick failed; BullMQ tries it again"),
    );
    await this.worker.waitUntilReady();
  }

  private async process(job: Job<TickData>): Promise<void> {
    const at = tickTime(job);
    const task = await this.deps.schedules.tick(job.data.scheduleId, at);
    if (task) this.deps.log.debug({ schedule: job.data.scheduleId, task: task.id, at }, "schedule ran");
  }

  async close(): Promise<void> {
    await this.worker?.close();
    this.connection?.disconnect();
    this.worker = undefined;
    this.connection = undefined;
  }
}
