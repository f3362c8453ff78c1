import {
  type ErrorDetail,
  type Logger,
  NotFoundError,
  newTaskId,
  type Priority,
  UnknownTaskTypeError,
  ValidationError,
} from "@conveyor/core";
import {
  orUnavailable,
  type SchedulePatch,
  type ScheduleRow,
  type ScheduleStore,
  type ScheduleTaskTemplate,
  type TaskRow,
} from "@conveyor/db";
import type { TaskCatalog } from "@conveyor/handlers";
import { z } from "zod";
import type { Dispatcher } from "./dispatch.ts";
import type { EventPublisher } from "./events.ts";
import type { ScheduleClock } from "./schedule/clock.ts";
import { runRow, ScheduleTask, templateDetails } from "./schedule/template.ts";
import { nextTick, timingDetails } from "./schedule/timing.ts";
import { taskEvent } from "./scheduler.ts";
import { type Task, toTask } from "./view.ts";

export { ScheduleTask } from "./schedule/template.ts";

const MAX_EVERY_MS = 366 * 86_400_000;

const Cron = z
  .string()
  .min(1)
  .max(200)
  .describe("5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first");
const EveryMs = z.number().int().min(1000).max(MAX_EVERY_MS).describe("A tick every this many ms (>= 1000)");
const TimeZone = z.string().min(1).max(100).describe("An IANA time zone the cron is read in; default UTC");
const Name = z.string().trim().min(1).max(200);

/** The body of `POST /v1/schedules`: exactly one of `cron` and `everyMs`. */
export const CreateSchedule = z.strictObject({
  name: Name,
  cron: Cron.optional(),
  everyMs: EveryMs.optional(),
  timezone: TimeZone.optional(),
  task: ScheduleTask,
  paused: z.boolean().optional(),
});
export type CreateSchedule = z.infer<typeof CreateSchedule>;

/**
 * The body of `PATCH /v1/schedules/:id`: a field left out keeps its value. Setting `cron` drops
 * `everyMs` and the other way round, so one PATCH switches between them.
 */
export const PatchSchedule = z
  .strictObject({
    name: Name.optional(),
    cron: Cron.nullable().optional(),
    everyMs: EveryMs.nullable().optional(),
    timezone: TimeZone.optional(),
    task: ScheduleTask.optional(),
    paused: z.boolean().optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), { message: "give at least one field to change" });
export type PatchSchedule = z.infer<typeof PatchSchedule>;

/** A schedule as the API shows it (CONTRACT.md, "Schedule"). */
export interface Schedule {
  id: string;
  name: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string;
  task: ScheduleTaskTemplate;
  paused: boolean;
  /** Null while paused. */
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastTaskId: string | null;
  createdAt: string;
}

/** Shapes a schedule row for the API; `nextRunAt` is computed from its timing, as of `now`. */
export function toSchedule(row: ScheduleRow, now = new Date()): Schedule {
  return {
    id: row.id,
    name: row.name,
    cron: row.cron ?? null,
    everyMs: row.everyMs ?? null,
    timezone: row.timezone,
    task: row.task,
    paused: row.paused,
    nextRunAt: row.paused ? null : nextTick(row, now).toISOString(),
    lastRunAt: row.lastRunAt?.toISOString() ?? null,
    lastTaskId: row.lastTaskId ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

export interface SchedulesDeps {
  store: ScheduleStore;
  catalog: TaskCatalog;
  dispatcher: Dispatcher;
  events: EventPublisher;
  clock: ScheduleClock;
  log: Logger;
}

/**
 * Recurring schedules: kept in PostgreSQL, ticked by one BullMQ job scheduler each. Every run
 * (a tick, or a trigger) is an ordinary task with `scheduleId`; a tick makes at most one.
 */
export class Schedules {
  constructor(private readonly deps: SchedulesDeps) {}

  private check(t: { cron: string | null; everyMs: number | null; timezone: string; task: ScheduleTaskTemplate }) {
    const details: ErrorDetail[] = [...timingDetails(t), ...templateDetails(this.deps.catalog, t.task)];
    if (details.length > 0) throw new ValidationError("the schedule is not valid", details);
  }

  /** Keeps a new schedule, then starts its job scheduler (unless paused). */
  async create(input: CreateSchedule, tenant: string): Promise<Schedule> {
    const timing = { cron: input.cron ?? null, everyMs: input.everyMs ?? null, timezone: input.timezone ?? "UTC" };
    this.check({ ...timing, task: input.task });
    const now = new Date();
    const row = await orUnavailable("create schedule", () =>
      this.deps.store.insert({
        id: newTaskId(),
        tenant,
        name: input.name,
        ...timing,
        task: input.task,
        paused: input.paused ?? false,
        anchorAt: now,
        createdAt: now,
        updatedAt: now,
      }),
    );
    await this.deps.clock.applyOrLater(row);
    return toSchedule(row);
  }

  /** The tenant's schedules (null: every tenant's), oldest first. */
  async list(tenant: string | null): Promise<Schedule[]> {
    const rows = await orUnavailable("list schedules", () => this.deps.store.list(tenant));
    const now = new Date();
    return rows.map((r) => toSchedule(r, now));
  }

  async get(id: string, tenant: string | null): Promise<Schedule> {
    return toSchedule(await this.row(id, tenant));
  }

  private async row(id: string, tenant: string | null): Promise<ScheduleRow> {
    const row = await orUnavailable("get schedule", () => this.deps.store.get(id, tenant));
    if (!row) throw new NotFoundError(`no schedule ${id}`);
    return row;
  }

  /** Changes a schedule; a new timing replaces the job scheduler (a new interval starts its phase now). */
  async update(id: string, tenant: string | null, patch: PatchSchedule): Promise<Schedule> {
    const current = await this.row(id, tenant);
    const cron = patch.cron !== undefined ? patch.cron : patch.everyMs != null ? null : current.cron;
    const everyMs = patch.everyMs !== undefined ? patch.everyMs : patch.cron != null ? null : current.everyMs;
    const timezone = patch.timezone ?? current.timezone;
    const task = patch.task ?? current.task;
    this.check({ cron, everyMs, timezone, task });
    const change: SchedulePatch = { cron, everyMs, timezone, task };
    if (patch.name !== undefined) change.name = patch.name;
    if (patch.paused !== undefined) change.paused = patch.paused;
    if (everyMs !== null && everyMs !== current.everyMs) change.anchorAt = new Date();
    const row = await orUnavailable("update schedule", () => this.deps.store.update(id, tenant, change));
    if (!row) throw new NotFoundError(`no schedule ${id}`);
    await this.deps.clock.applyOrLater(row);
    return toSchedule(row);
  }

  /** Deletes a schedule and its job scheduler; its runs stay, as tasks. */
  async delete(id: string, tenant: string | null): Promise<void> {
    const deleted = await orUnavailable("delete schedule", () => this.deps.store.delete(id, tenant));
    if (!deleted) throw new NotFoundError(`no schedule ${id}`);
    await this.deps.clock.removeOrLater(id);
  }

  /** Pauses (no ticks, `nextRunAt` null) or resumes a schedule. */
  async setPaused(id: string, tenant: string | null, paused: boolean): Promise<Schedule> {
    const row = await orUnavailable("pause schedule", () => this.deps.store.update(id, tenant, { paused }));
    if (!row) throw new NotFoundError(`no schedule ${id}`);
    await this.deps.clock.applyOrLater(row);
    return toSchedule(row);
  }

  /** Runs a schedule once now (paused or not): a run like a tick's, the ticks left as they were. */
  async trigger(id: string, tenant: string | null): Promise<Task> {
    const s = await this.row(id, tenant);
    const now = new Date();
    const row = await this.run(s, null, now);
    if (!row) throw new Error(`the triggered run of schedule ${id} was not inserted`);
    return toTask(row);
  }

  /**
   * Handles one tick (what the `{__schedules}` queue's processor calls): inserts the run's task
   * unless this tick has one already, then submits it like any task. Null when nothing was made:
   * a repeated tick, a paused schedule, or one deleted meanwhile (its job scheduler is removed).
   */
  async tick(scheduleId: string, at: Date): Promise<TaskRow | null> {
    const s = await this.deps.store.get(scheduleId, null);
    if (!s) {
      await this.deps.clock.removeOrLater(scheduleId);
      return null;
    }
    if (s.paused) return null;
    try {
      return await this.run(s, at, new Date());
    } catch (err) {
      if (!(err instanceof UnknownTaskTypeError)) throw err;
      this.deps.log.warn(
        { schedule: s.id, type: s.task.type },
        "schedule's task type is not in this catalog; tick skipped",
      );
      return null;
    }
  }

  /** Inserts a run's task (and records it as the last run), then announces and dispatches it. */
  private async run(s: ScheduleRow, scheduledFor: Date | null, now: Date): Promise<TaskRow | null> {
    const row = runRow(this.deps.catalog, { tenant: s.tenant, scheduleId: s.id, task: s.task, scheduledFor, now });
    const inserted = await orUnavailable("run schedule", () => this.deps.store.insertRun(row, scheduledFor ?? now));
    if (!inserted) return null;
    await Promise.all([this.deps.events.publish(taskEvent(inserted)), this.dispatch(inserted)]);
    return inserted;
  }

  /** A Redis failure is logged, not thrown: the row is kept, the reconciler adds its job. */
  private async dispatch(row: TaskRow): Promise<void> {
    try {
      await this.deps.dispatcher.add({
        taskId: row.id,
        jobId: row.jobId,
        type: row.type,
        priority: row.priority as Priority,
        delayMs: 0,
        maxAttempts: row.maxAttempts,
      });
    } catch (err) {
      this.deps.log.warn(
        { task: row.id, err: (err as Error).message },
        "Redis refused the run's job; the task stays queued in the ledger for the reconciler",
      );
    }
  }
}
