import { bullPriority, type Logger, type Priority, queueName, type RedisClient, whenReady } from "@conveyor/core";
import { type JobsOptions, Queue } from "bullmq";

/** The pub/sub channel on which cancels reach every worker node. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:cancel`;
}

/** What Redis carries for a task: only its id. The payload stays in the ledger. */
export interface JobData {
  taskId: string;
}

export interface DispatchItem {
  taskId: string;
  jobId: string;
  type: string;
  priority: Priority;
  delayMs: number;
  maxAttempts: number;
}

/** The name of the worker's backoff strategy (see apps/worker). */
export const LEDGER_BACKOFF = "ledger";

/** BullMQ's job options for one of our tasks. */
export function jobOptions(item: DispatchItem): JobsOptions {
  return {
    jobId: item.jobId,
    priority: bullPriority(item.priority),
    delay: item.delayMs > 0 ? item.delayMs : undefined,
    attempts: item.maxAttempts,
    // The worker computes each retry's delay itself (it writes it to the ledger as the task's
    // due time) and hands it to BullMQ through this custom strategy.
    backoff: { type: LEDGER_BACKOFF },
    // The ledger keeps the history; Redis need not.
    removeOnComplete: true,
    removeOnFail: true,
  };
}

/** One BullMQ Queue per task type, made on first use, sharing one producer connection. */
export class Dispatcher {
  private readonly queues = new Map<string, Queue<JobData>>();

  constructor(
    private readonly connection: RedisClient,
    readonly prefix: string,
    private readonly log: Logger,
  ) {}

  queue(type: string): Queue<JobData> {
    let q = this.queues.get(type);
    if (!q) {
      q = new Queue<JobData>(queueName(type), { connection: this.connection, prefix: this.prefix });
      q.on("error", (err) => this.log.warn({ type, err: err.message }, "queue error"));
      this.queues.set(type, q);
    }
    return q;
  }

  /**
   * Adds one job. While Redis is away BullMQ waits for it to come back, so the wait is cut
   * short: the caller learns at once, and the late add (same job id) is harmless.
   */
  async add(item: DispatchItem): Promise<void> {
    await whenReady(this.connection, () =>
      this.queue(item.type).add(item.type, { taskId: item.taskId }, jobOptions(item)),
    );
  }

  /** Adds many; one `addBulk` per task type. */
  async addMany(items: DispatchItem[]): Promise<void> {
    const byType = Map.groupBy(items, (i) => i.type);
    await whenReady(this.connection, () =>
      Promise.all(
        [...byType].map(([type, group]) =>
          this.queue(type).addBulk(group.map((i) => ({ name: type, data: { taskId: i.taskId }, opts: jobOptions(i) }))),
        ),
      ),
    );
  }

  /** Removes a waiting or delayed job; a job a worker holds is left alone (it will find its task cancelled). */
  async remove(type: string, jobId: string): Promise<void> {
    await whenReady(this.connection, () => this.queue(type).remove(jobId));
  }

  /** Tells every worker node to abort `jobId` if it is running it. */
  async broadcastCancel(jobId: string): Promise<void> {
    await whenReady(this.connection, () => this.connection.publish(cancelChannel(this.prefix), jobId));
  }

  /** BullMQ's job counts for a type's queue. */
  async counts(type: string): Promise<Record<string, number>> {
    return whenReady(this.connection, () =>
      this.queue(type).getJobCounts("wait", "prioritized", "delayed", "active", "failed"),
    );
  }

  /** Pauses or resumes a type's queue in Redis (every worker stops or starts taking its jobs). */
  async setPaused(type: string, paused: boolean): Promise<void> {
    const q = this.queue(type);
    await whenReady(this.connection, () => (paused ? q.pause() : q.resume()));
  }

  /**
   * Applies a queue's cluster-wide limits in Redis (BullMQ's global rate limit and global
   * concurrency, read by every worker); null removes a limit.
   */
  async applyLimits(
    type: string,
    limits: { rateLimit: { max: number; durationMs: number } | null; concurrency: number | null },
  ): Promise<void> {
    const q = this.queue(type);
    await whenReady(this.connection, () =>
      Promise.all([
        limits.rateLimit
          ? q.setGlobalRateLimit(limits.rateLimit.max, limits.rateLimit.durationMs)
          : q.removeGlobalRateLimit(),
        limits.concurrency !== null ? q.setGlobalConcurrency(limits.concurrency) : q.removeGlobalConcurrency(),
      ]),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
