import { type Logger, type RedisClient, SCHEDULES_QUEUE, whenReady } from "@conveyor/core";
import type { ScheduleRow } from "@conveyor/db";
import { type JobSchedulerJson, Queue, type RepeatOptions } from "bullmq";
import { nextTick } from "./timing.ts";

/** What a tick job carries: only the schedule's id. The schedule itself stays in PostgreSQL. */
export interface TickData {
  scheduleId: string;
}

/** The name of every tick job. */
export const TICK_JOB = "tick";

// A tick whose handling failed (PostgreSQL away) is tried again; a repeat inserts nothing twice.
const TICK_OPTS = {
  attempts: 10,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete: true,
  removeOnFail: true,
} as const;

const CALL_TIMEOUT_MS = 5000;

/** What the reconciler's pass over the job schedulers changed. */
export interface ClockRepair {
  /** Job schedulers added (Redis had lost them) or re-applied (their timing differed). */
  restored: string[];
  /** Job schedulers whose schedule is gone or paused, removed. */
  removed: string[];
}

/** BullMQ's repeat options for a schedule. */
function repeatOf(s: ScheduleRow, now = new Date()): Omit<RepeatOptions, "key"> {
  if (s.everyMs !== null) {
    // The first tick of a new job scheduler is its start date: the schedule's next tick in its
    // own phase (`anchorAt + k * everyMs`), so a scheduler re-created after Redis lost it ticks
    // on the same instants as before. Later ticks follow every `everyMs`.
    return { every: s.everyMs, startDate: nextTick({ ...s, everyMs: s.everyMs }, now).getTime() };
  }
  return { pattern: s.cron as string, tz: s.timezone };
}

/** True when the job scheduler in Redis ticks as the schedule says. */
function matches(s: ScheduleRow, j: JobSchedulerJson<TickData>): boolean {
  if (s.everyMs !== null) return j.every === s.everyMs && !j.pattern;
  return j.pattern === s.cron && (j.tz ?? "UTC") === s.timezone && !j.every;
}

/**
 * The job schedulers in Redis: one per active schedule, under the schedule's id, ticking into
 * the internal `{__schedules}` queue. PostgreSQL is the record; this is its copy in Redis.
 */
export class ScheduleClock {
  readonly queue: Queue<TickData>;

  constructor(
    private readonly connection: RedisClient,
    prefix: string,
    private readonly log: Logger,
  ) {
    this.queue = new Queue<TickData>(SCHEDULES_QUEUE, { connection, prefix });
    this.queue.on("error", (err) => log.warn({ err: err.message }, "schedules queue error"));
  }

  /** Makes Redis tick as the schedule says: a job scheduler when active, none when paused. */
  async apply(s: ScheduleRow): Promise<void> {
    if (s.paused) return this.remove(s.id);
    await whenReady(
      this.connection,
      () =>
        this.queue.upsertJobScheduler(s.id, repeatOf(s), {
          name: TICK_JOB,
          data: { scheduleId: s.id },
          opts: TICK_OPTS,
        }),
      CALL_TIMEOUT_MS,
    );
  }

  /** Removes a schedule's job scheduler and its pending tick (nothing when there is none). */
  async remove(id: string): Promise<void> {
    await whenReady(this.connection, () => this.queue.removeJobScheduler(id), CALL_TIMEOUT_MS);
  }

  /**
   * Like `apply`, but a Redis failure is logged, not thrown: the schedule is kept in PostgreSQL
   * and the reconciler brings Redis in line when it is back.
   */
  async applyOrLater(s: ScheduleRow): Promise<void> {
    try {
      await this.apply(s);
    } catch (err) {
      this.log.warn(
        { schedule: s.id, err: (err as Error).message },
        "Redis did not take the schedule's job scheduler; the reconciler will apply it",
      );
    }
  }

  /** Like `remove`, with the same fallback as `applyOrLater`. */
  async removeOrLater(id: string): Promise<void> {
    try {
      await this.remove(id);
    } catch (err) {
      this.log.warn({ schedule: id, err: (err as Error).message }, "job scheduler not removed; the reconciler will");
    }
  }

  /**
   * Brings Redis in line with `active` (every schedule that should tick): adds the job
   * schedulers Redis lost or whose timing differs, and removes those of schedules that are
   * gone or paused. `active` must be read after the schedulers were listed (`listed()`), so a
   * schedule made in between is never taken for a deleted one.
   */
  async repair(listed: JobSchedulerJson<TickData>[], active: ScheduleRow[]): Promise<ClockRepair> {
    const inRedis = new Map(listed.map((j) => [j.key, j]));
    const wanted = new Set(active.map((s) => s.id));
    const report: ClockRepair = { restored: [], removed: [] };
    for (const s of active) {
      const j = inRedis.get(s.id);
      if (j && matches(s, j)) continue;
      await this.apply(s);
      report.restored.push(s.id);
    }
    for (const key of inRedis.keys()) {
      if (wanted.has(key)) continue;
      await this.remove(key);
      report.removed.push(key);
    }
    return report;
  }

  /** Every job scheduler in Redis. */
  listed(): Promise<JobSchedulerJson<TickData>[]> {
    return whenReady(this.connection, () => this.queue.getJobSchedulers(0, -1), CALL_TIMEOUT_MS);
  }

  /** The next tick Redis holds for a schedule, or null when it has no job scheduler. */
  async next(id: string): Promise<Date | null> {
    const j = await whenReady(this.connection, () => this.queue.getJobScheduler(id), CALL_TIMEOUT_MS);
    return j?.next ? new Date(j.next) : null;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
