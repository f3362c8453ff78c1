import { createHash } from "node:crypto";
import {
  ConflictError,
  type ErrorDetail,
  isFinal,
  type Logger,
  NotFoundError,
  newTaskId,
  type Priority,
  type TaskEvent,
  type TaskStatus,
  UnknownTaskTypeError,
  ValidationError,
} from "@conveyor/core";
import {
  type Ledger,
  type NewTaskRow,
  orUnavailable,
  type TaskListQuery,
  type TaskRow,
  type TaskState,
} from "@conveyor/db";
import type { TaskCatalog } from "@conveyor/handlers";
import type { Dispatcher } from "./dispatch.ts";
import type { EventPublisher } from "./events.ts";
import type { SubmitTask } from "./input.ts";
import { type MetricsWindow, metricsReport, metricsSeries } from "./metrics.ts";
import { type Attempt, type Task, toAttempt, toTask } from "./view.ts";

export interface SchedulerDeps {
  ledger: Ledger;
  catalog: TaskCatalog;
  dispatcher: Dispatcher;
  events: EventPublisher;
  log: Logger;
}

/** The answer to a submission: the task, and whether it was new (202) or a replay (200). */
export interface Submitted {
  task: Task;
  created: boolean;
}

/** JSON with object keys sorted, so two equal bodies hash the same whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Turns zod issues into the contract's details, under a path prefix. */
export function issueDetails(
  issues: readonly { path: PropertyKey[]; code: string; message: string }[],
  prefix: (string | number)[],
): ErrorDetail[] {
  return issues.map((i) => ({
    path: [...prefix, ...i.path.map((p) => (typeof p === "number" ? p : String(p)))],
    code: i.code,
    message: i.message,
  }));
}

/**
 * The path of the first string (or key) PostgreSQL cannot store, or null. Its `jsonb` and
 * `text` refuse U+0000 and unpaired surrogates, so such input is a 400, not a failed insert.
 */
export function unstorable(value: unknown, path: (string | number)[]): (string | number)[] | null {
  if (typeof value === "string") return value.includes("\u0000") || !value.isWellFormed() ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = unstorable(value[i], [...path, i]);
      if (bad) return bad;
    }
    return null;
  }
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const bad = unstorable(k, [...path, k]) ?? unstorable(v, [...path, k]);
      if (bad) return bad;
    }
  }
  return null;
}

/** Tasks: submit, read. The domain service behind the API, used by workers and tests too. */
export class Scheduler {
  constructor(private readonly deps: SchedulerDeps) {}

  /** Validates a submission against its type and resolves defaults; throws ValidationError. */
  private prepare(input: SubmitTask, tenant: string, now: Date): NewTaskRow {
    const type = this.deps.catalog.get(input.type);
    const parsed = type.schema.safeParse(input.payload);
    if (!parsed.success) {
      throw new ValidationError(
        "the payload does not match the task type's schema",
        issueDetails(parsed.error.issues, ["payload"]),
      );
    }
    const bad = unstorable(input.payload, ["payload"]) ?? unstorable(input.idempotencyKey, ["idempotencyKey"]);
    if (bad) {
      throw new ValidationError("the submission holds a string PostgreSQL cannot store", [
        { path: bad, code: "invalid_string", message: "strings may not contain U+0000 or an unpaired surrogate" },
      ]);
    }
    if (input.delayMs !== undefined && input.runAt !== undefined) {
      throw new ValidationError("give delayMs or runAt, not both", [
        { path: ["runAt"], code: "invalid_combination", message: "delayMs and runAt both set" },
      ]);
    }
    const d = type.defaults;
    const resolved = {
      type: input.type,
      payload: input.payload ?? null,
      priority: input.priority ?? d.priority,
      timeoutMs: input.timeoutMs ?? d.timeoutMs,
      maxAttempts: input.maxAttempts ?? d.maxAttempts,
      backoff: input.backoff ?? d.backoff,
      delayMs: input.delayMs,
      runAt: input.runAt,
    };
    const runAt = input.runAt ? new Date(input.runAt) : input.delayMs ? new Date(now.getTime() + input.delayMs) : null;
    const delayed = runAt !== null && runAt.getTime() > now.getTime();
    const id = newTaskId();
    return {
      id,
      tenant,
      type: resolved.type,
      status: delayed ? "delayed" : "queued",
      priority: resolved.priority,
      payload: resolved.payload,
      maxAttempts: resolved.maxAttempts,
      timeoutMs: resolved.timeoutMs,
      backoff: resolved.backoff,
      idempotencyKey: input.idempotencyKey ?? null,
      requestHash: input.idempotencyKey ? createHash("sha256").update(canonical(resolved)).digest("base64url") : null,
      runAt,
      dueAt: runAt ?? now,
      jobId: id,
      createdAt: now,
    };
  }

  /**
   * Submits one task: the ledger row first, then the BullMQ job. If Redis is away the row
   * stays `queued` and the reconciler enqueues it later; if PostgreSQL is away nothing is
   * accepted (UnavailableError).
   */
  async submit(input: SubmitTask, tenant: string): Promise<Submitted> {
    const now = new Date();
    const row = this.prepare(input, tenant, now);
    const inserted = await orUnavailable("submit", () => this.deps.ledger.insertTask(row));
    if (!inserted) return this.replay(row, tenant);
    // The event is asked for first, on the same connection, so it lands before the job.
    await Promise.all([this.announce(inserted), this.dispatch([inserted], now)]);
    return { task: toTask(inserted), created: true };
  }

  /** Answers a submission whose idempotency key is taken: the same body gets the first task. */
  private async replay(row: NewTaskRow, tenant: string): Promise<Submitted> {
    const key = row.idempotencyKey as string;
    const existing = await orUnavailable("submit", () => this.deps.ledger.getByIdempotencyKey(tenant, key));
    if (!existing) throw new ConflictError("the idempotency key is being used by a task that no longer exists");
    if (existing.requestHash !== row.requestHash) {
      throw new ConflictError(`idempotency key '${key}' was already used with a different body`);
    }
    return { task: toTask(existing), created: false };
  }

  private async announce(row: TaskRow): Promise<void> {
    await this.deps.events.publish(taskEvent(row));
  }

  /** Hands tasks to BullMQ. A Redis failure is logged, not thrown: the row is kept, the reconciler re-adds it. */
  private async dispatch(rows: TaskRow[], now: Date): Promise<void> {
    const items = rows.map((r) => ({
      taskId: r.id,
      jobId: r.jobId,
      type: r.type,
      priority: r.priority as Priority,
      delayMs: Math.max(0, r.dueAt.getTime() - now.getTime()),
      maxAttempts: r.maxAttempts,
    }));
    try {
      if (items.length === 1 && items[0]) await this.deps.dispatcher.add(items[0]);
      else await this.deps.dispatcher.addMany(items);
    } catch (err) {
      this.deps.log.warn(
        { tasks: items.length, err: (err as Error).message },
        "Redis refused the job; the task stays queued in the ledger for the reconciler",
      );
    }
  }

  /**
   * Submits up to 1000 tasks, all or nothing: every item is checked first (a detail per bad
   * item, paths under `["tasks", i]`), then one multi-row insert and one `addBulk` per type.
   */
  async submitBatch(inputs: SubmitTask[], tenant: string): Promise<Submitted[]> {
    const now = new Date();
    const details: ErrorDetail[] = [];
    const rows: NewTaskRow[] = [];
    inputs.forEach((input, i) => {
      try {
        rows.push(this.prepare(input, tenant, now));
      } catch (err) {
        if (err instanceof UnknownTaskTypeError) {
          details.push({ path: ["tasks", i, "type"], code: "unknown_task_type", message: err.message });
        } else if (err instanceof ValidationError) {
          for (const d of err.details) details.push({ ...d, path: ["tasks", i, ...d.path] });
        } else throw err;
      }
    });
    if (details.length > 0)
      throw new ValidationError("some tasks in the batch are not valid; none was accepted", details);
    const results = await orUnavailable("submit", () => this.deps.ledger.insertBatch(tenant, rows));
    const fresh = results.filter((r) => r.created).map((r) => r.row);
    await Promise.all(fresh.map((r) => this.announce(r)));
    if (fresh.length > 0) await this.dispatch(fresh, now);
    return results.map((r) => ({ task: toTask(r.row), created: r.created }));
  }

  /**
   * Cancels a task. Waiting: its job is removed. Running: every node is told, and the one
   * running it aborts the handler. Already cancelled: the task as it is. Finished: 409.
   */
  async cancel(id: string, tenant: string | null): Promise<Task> {
    const row = await orUnavailable("cancel", () => this.deps.ledger.cancelTask(id, tenant));
    if (!row) {
      const current = await this.get(id, tenant);
      if (!current) throw new NotFoundError(`no task ${id}`);
      if (current.status === "cancelled") return current;
      throw new ConflictError(`task ${id} is ${current.status} and cannot be cancelled`);
    }
    await this.announce(row);
    // Both are harmless when they find nothing: a removed job the worker had not locked yet,
    // or a cancel that no node is running.
    await Promise.allSettled([
      this.deps.dispatcher.remove(row.type, row.jobId),
      this.deps.dispatcher.broadcastCancel(row.jobId),
    ]);
    return toTask(row);
  }

  /** Queues a failed or cancelled task again (409 otherwise); its attempts stay in its history. */
  async retry(id: string, tenant: string | null): Promise<Task> {
    const rows = await orUnavailable("retry", () => this.deps.ledger.requeueTasks({ tenant, ids: [id] }));
    const row = rows[0];
    if (!row) {
      const current = await this.get(id, tenant);
      if (!current) throw new NotFoundError(`no task ${id}`);
      throw new ConflictError(`task ${id} is ${current.status}; only failed or cancelled tasks can be retried`);
    }
    await this.announce(row);
    await this.dispatch([row], new Date());
    return toTask(row);
  }

  /** Queues again every failed task of the tenant that matches; returns how many. */
  async retryFailed(filter: { tenant: string | null; type?: string; code?: string; message?: string; since?: Date }) {
    const rows = await orUnavailable("retry", () => this.deps.ledger.requeueTasks(filter));
    await Promise.all(rows.map((r) => this.announce(r)));
    if (rows.length > 0) await this.dispatch(rows, new Date());
    return rows.length;
  }

  /** What a task's handlers logged, oldest first. */
  async logs(id: string): Promise<{ at: string; level: string; message: string; attempt: number }[]> {
    const rows = await orUnavailable("logs", () => this.deps.ledger.listLogs(id));
    return rows.map((r) => ({ at: r.at.toISOString(), level: r.level, message: r.message, attempt: r.attempt }));
  }

  /** One page of tasks, newest first. */
  async list(query: TaskListQuery): Promise<{ tasks: Task[]; nextCursor: string | null }> {
    const { rows, nextCursor } = await orUnavailable("list", () => this.deps.ledger.listTasks(query));
    return { tasks: rows.map(toTask), nextCursor };
  }

  /** Failed tasks of the tenant grouped by cause, largest first; `POST /v1/tasks/retry` retries a group. */
  async failures(query: { tenant: string | null; type?: string; since?: Date }) {
    const groups = await orUnavailable("failures", () => this.deps.ledger.failureGroups(query));
    return groups.map((g) => ({ ...g, lastAt: g.lastAt.toISOString() }));
  }

  /** Tasks per status, counted in the ledger. */
  summary(query: { tenant: string | null; type?: string; since?: Date }) {
    return orUnavailable("summary", () => this.deps.ledger.countByStatus(query));
  }

  /** Task metrics over the whole minutes of `window` (`GET /v1/metrics`); `tenant` null: every tenant. */
  metrics(query: { tenant: string | null; window: MetricsWindow }) {
    return orUnavailable("metrics", () => metricsReport(this.deps.ledger.metrics(), query));
  }

  /** Task metrics per step over `window` (`GET /v1/metrics/series`). */
  metricsSeries(query: { tenant: string | null; window: MetricsWindow; step: MetricsWindow }) {
    return orUnavailable("metrics", () => metricsSeries(this.deps.ledger.metrics(), query));
  }

  /**
   * A task, held until it is final or `waitMs` has passed (long polling). Polls the ledger,
   * quickly at first, then every half second.
   */
  async waitFor(id: string, tenant: string | null, waitMs: number): Promise<Task | null> {
    const deadline = Date.now() + waitMs;
    let pause = 25;
    for (;;) {
      const task = await this.get(id, tenant);
      if (!task || isFinal(task.status as TaskStatus) || Date.now() >= deadline) return task;
      await Bun.sleep(Math.min(pause, deadline - Date.now()));
      pause = Math.min(pause * 2, 500);
    }
  }

  /** A task by id within a tenant (`null` tenant: any). */
  async get(id: string, tenant: string | null): Promise<Task | null> {
    const row = await orUnavailable("get", () => this.deps.ledger.getTask(id, tenant ?? undefined));
    return row ? toTask(row) : null;
  }

  async attempts(id: string): Promise<Attempt[]> {
    const rows = await orUnavailable("attempts", () => this.deps.ledger.listAttempts(id));
    return rows.map(toAttempt);
  }
}

/** The event a ledger row's current state publishes. */
export function taskEvent(row: TaskState, status: TaskStatus = row.status as TaskStatus): TaskEvent {
  return {
    id: row.id,
    tenant: row.tenant,
    type: row.type,
    status,
    progress: row.progress ?? null,
    attempt: row.attempts,
    node: row.node ?? null,
    at: new Date().toISOString(),
  };
}
