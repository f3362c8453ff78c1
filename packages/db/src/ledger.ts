import type { AttemptOutcome, TaskError, TaskStatus } from "@conveyor/core";
import { and, asc, eq } from "drizzle-orm";
import type { DbHandle } from "./client.ts";
import { type AttemptRow, type NewTaskRow, type TaskRow, taskAttempts, tasks } from "./schema/index.ts";

// Raw statements return snake_case; this list names every task column in camelCase so their
// rows have the same shape as Drizzle's `TaskRow`.
const TASK_COLUMNS = `id, tenant, type, status, priority, payload, result, error, progress, attempts,
  max_attempts as "maxAttempts", timeout_ms as "timeoutMs", backoff, stalls,
  idempotency_key as "idempotencyKey", request_hash as "requestHash", schedule_id as "scheduleId",
  run_at as "runAt", due_at as "dueAt", job_id as "jobId", node, created_at as "createdAt",
  started_at as "startedAt", finished_at as "finishedAt"`;

const DATE_FIELDS = ["runAt", "dueAt", "createdAt", "startedAt", "finishedAt"] as const;

/**
 * Drizzle's postgres.js driver turns off the client's timestamp parsing (it maps dates
 * itself), so rows from raw statements carry timestamps as text: make them Dates.
 */
function rawTask(row: Record<string, unknown>): TaskRow {
  for (const f of DATE_FIELDS) {
    const v = row[f];
    if (typeof v === "string") row[f] = new Date(v);
  }
  return row as unknown as TaskRow;
}

const STALLED_ERROR: TaskError = { code: "stalled", message: "the node running this attempt stopped answering" };

/** What a worker needs once it has opened an attempt. */
export interface StartedAttempt {
  task: TaskRow;
  n: number;
  /** Attempts closed as `stalled` when this one opened (their node had died). */
  stalledNow: number;
}

export interface AttemptEnd {
  taskId: string;
  n: number;
  outcome: Exclude<AttemptOutcome, "running">;
  error: TaskError | null;
  /** The task's status after this attempt: final, or `queued`/`delayed` when it will run again. */
  status: TaskStatus;
  result?: unknown;
  /** When the task is due again (a retry's backoff), if it will run again. */
  dueAt?: Date;
}

/**
 * The ledger: every task and attempt in PostgreSQL. State changes are conditional on the
 * state they expect, so when a cancel and a completion race the first wins and the other
 * changes nothing.
 */
export class Ledger {
  constructor(private readonly pg: DbHandle) {}

  /** Inserts a task; returns null when the tenant's idempotency key is already taken. */
  async insertTask(row: NewTaskRow): Promise<TaskRow | null> {
    const inserted = await this.pg.db.insert(tasks).values(row).onConflictDoNothing().returning();
    return inserted[0] ?? null;
  }

  /** Inserts many tasks in one statement (all or nothing). */
  async insertTasks(rows: NewTaskRow[]): Promise<TaskRow[]> {
    if (rows.length === 0) return [];
    return this.pg.db.insert(tasks).values(rows).returning();
  }

  /** A task by id; with `tenant`, only that tenant's. */
  async getTask(id: string, tenant?: string): Promise<TaskRow | null> {
    const where = tenant === undefined ? eq(tasks.id, id) : and(eq(tasks.id, id), eq(tasks.tenant, tenant));
    const rows = await this.pg.db.select().from(tasks).where(where).limit(1);
    return rows[0] ?? null;
  }

  async getByIdempotencyKey(tenant: string, key: string): Promise<TaskRow | null> {
    const rows = await this.pg.db
      .select()
      .from(tasks)
      .where(and(eq(tasks.tenant, tenant), eq(tasks.idempotencyKey, key)))
      .limit(1);
    return rows[0] ?? null;
  }

  async listAttempts(taskId: string): Promise<AttemptRow[]> {
    return this.pg.db.select().from(taskAttempts).where(eq(taskAttempts.taskId, taskId)).orderBy(asc(taskAttempts.n));
  }

  /**
   * Opens attempt n+1 on `node` and marks the task running, in one round trip. An attempt
   * still open from before belongs to a node that died: it is closed as `stalled`. Returns
   * null when the task may not run (cancelled, finished, or unknown).
   */
  async startAttempt(taskId: string, node: string): Promise<StartedAttempt | null> {
    const { sql } = this.pg;
    const rows = await sql<(Record<string, unknown> & { n: number; stalledNow: number })[]>`
      with closed as (
        update task_attempts
           set outcome = 'stalled', finished_at = now(), error = ${JSON.stringify(STALLED_ERROR)}::jsonb,
               duration_ms = greatest(0, extract(epoch from now() - started_at) * 1000)::int
         where task_id = ${taskId} and outcome = 'running'
        returning n
      ), t as (
        update tasks
           set status = 'running', attempts = attempts + 1, node = ${node},
               stalls = stalls + (select count(*) from closed)::int,
               started_at = coalesce(started_at, now())
         where id = ${taskId} and status in ('queued', 'delayed', 'running')
        returning *
      ), a as (
        insert into task_attempts (task_id, n, tenant, type, node, outcome, started_at, wait_ms)
        select id, attempts, tenant, type, ${node}, 'running', now(),
               greatest(0, extract(epoch from now() - due_at) * 1000)::int
          from t
        returning n
      )
      select ${sql.unsafe(TASK_COLUMNS)}, (select n from a) as n, (select count(*) from closed)::int as "stalledNow"
        from t`;
    const row = rows[0];
    if (!row) return null;
    const { n, stalledNow, ...task } = row;
    return { task: rawTask(task), n, stalledNow };
  }

  /**
   * Closes an attempt and moves its task on, in one round trip. Changes nothing when the
   * task left `running` meanwhile (a cancel won) or a newer attempt has opened.
   */
  async finishAttempt(end: AttemptEnd): Promise<TaskRow | null> {
    const { sql } = this.pg;
    const final = end.status === "completed" || end.status === "failed" || end.status === "cancelled";
    // Passed as text and cast: postgres.js cannot infer a jsonb parameter inside a CTE.
    const error = end.error === null ? null : JSON.stringify(end.error);
    const result = end.result === undefined ? null : JSON.stringify(end.result);
    const rows = await sql<Record<string, unknown>[]>`
      with a as (
        update task_attempts
           set outcome = ${end.outcome}, error = ${error}::jsonb, finished_at = now(),
               duration_ms = greatest(0, extract(epoch from now() - started_at) * 1000)::int
         where task_id = ${end.taskId} and n = ${end.n} and outcome = 'running'
        returning task_id
      )
      update tasks
         set status = ${end.status}, error = ${error}::jsonb, result = ${result}::jsonb,
             progress = case when ${end.status} = 'completed' then 100 else progress end,
             finished_at = ${final ? sql`now()` : null},
             due_at = coalesce(${end.dueAt ?? null}, due_at)
       where id = ${end.taskId} and status = 'running' and attempts = ${end.n}
      returning ${sql.unsafe(TASK_COLUMNS)}`;
    return rows[0] ? rawTask(rows[0]) : null;
  }

  /** Records a handler's progress report on a running task. */
  async setProgress(taskId: string, progress: number): Promise<void> {
    await this.pg.sql`update tasks set progress = ${progress} where id = ${taskId} and status = 'running'`;
  }
}
