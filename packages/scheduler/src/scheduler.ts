import { createHash } from "node:crypto";
import {
  ConflictError,
  type ErrorDetail,
  type Logger,
  newTaskId,
  type Priority,
  type TaskEvent,
  type TaskStatus,
  ValidationError,
} from "@conveyor/core";
import { type Ledger, type NewTaskRow, orUnavailable, type TaskRow } from "@conveyor/db";
import type { TaskCatalog } from "@conveyor/handlers";
import type { Dispatcher } from "./dispatch.ts";
import type { EventPublisher } from "./events.ts";
import type { SubmitTask } from "./input.ts";
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
function unstorable(value: unknown, path: (string | number)[]): (string | number)[] | null {
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
    await this.announce(inserted);
    await this.dispatch([inserted], now);
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
export function taskEvent(row: TaskRow, status: TaskStatus = row.status as TaskStatus): TaskEvent {
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
