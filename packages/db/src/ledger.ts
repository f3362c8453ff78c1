import {
  type AttemptOutcome,
  ConflictError,
  GroupCommit,
  TASK_STATUSES,
  type TaskError,
  type TaskStatus,
  uuidv7Floor,
} from "@conveyor/core";
import { and, asc, desc, eq, gte, inArray, lt, or, sql } from "drizzle-orm";
import type { Sql } from "postgres";
import type { DbHandle } from "./client.ts";
import { MetricsStore } from "./metrics.ts";
import { NodeRegistry } from "./nodes.ts";
import {
  type AttemptRow,
  type NewTaskRow,
  type QueueSettingsRow,
  queueSettings,
  type TaskLogRow,
  type TaskRow,
  taskAttempts,
  taskLogs,
  tasks,
} from "./schema/index.ts";
import { isRetryableDbError } from "./unavailable.ts";

// Raw statements return snake_case; these name every task column in camelCase so their rows
// have the same shape as Drizzle's `TaskRow`.
const TASK_FIELDS: [column: string, field: string][] = [
  ["id", "id"],
  ["tenant", "tenant"],
  ["type", "type"],
  ["status", "status"],
  ["priority", "priority"],
  ["payload", "payload"],
  ["result", "result"],
  ["error", "error"],
  ["progress", "progress"],
  ["attempts", "attempts"],
  ["max_attempts", "maxAttempts"],
  ["timeout_ms", "timeoutMs"],
  ["backoff", "backoff"],
  ["stalls", "stalls"],
  ["idempotency_key", "idempotencyKey"],
  ["request_hash", "requestHash"],
  ["schedule_id", "scheduleId"],
  ["scheduled_for", "scheduledFor"],
  ["run_at", "runAt"],
  ["due_at", "dueAt"],
  ["job_id", "jobId"],
  ["node", "node"],
  ["created_at", "createdAt"],
  ["started_at", "startedAt"],
  ["finished_at", "finishedAt"],
];

/** The select list of a whole task row, columns taken from `alias`. */
function taskColumns(alias: string): string {
  return TASK_FIELDS.map(([c, f]) => `${alias}.${c} as "${f}"`).join(", ");
}

const DATE_FIELDS = ["scheduledFor", "runAt", "dueAt", "createdAt", "startedAt", "finishedAt"] as const;

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

/** Ledger batches fail whole on a lost connection or a deadlock (each caller retries), else item by item. */
const LEDGER_BATCHING = { isTransient: isRetryableDbError };

const STALLED_ERROR: TaskError = { code: "stalled", message: "the node running this attempt stopped answering" };

/** One cause of failure: `GET /v1/tasks/failures`. */
export interface FailureGroup {
  type: string;
  code: string;
  message: string;
  count: number;
  lastAt: Date;
  sampleTaskId: string;
}

/** Filters of `GET /v1/tasks`. */
export interface TaskListQuery {
  tenant: string | null;
  status?: TaskStatus;
  type?: string;
  scheduleId?: string;
  q?: string;
  since?: Date;
  until?: Date;
  cursor?: string;
  limit: number;
}

/** What an event needs of a task's state: what `finishAttempt` answers. */
export type TaskState = Pick<TaskRow, "id" | "tenant" | "type" | "status" | "progress" | "attempts" | "node">;

/** What a worker needs once it has opened an attempt. */
export interface StartedAttempt {
  task: TaskRow;
  n: number;
  /** Attempts closed as `stalled` when this one opened (their node had died). */
  stalledNow: number;
  /** How long the task waited from being due to this attempt's start (the attempt's `wait_ms`). */
  waitMs: number;
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
 * Inserts task rows in one statement: each column travels as one array parameter (json and
 * times as text: Drizzle's driver setup disables postgres.js's own serializers for them) and
 * `unnest` turns them back into rows, so a thousand tasks cost one short statement instead of
 * tens of thousands of bound parameters. Rows whose idempotency key (or schedule tick) is taken
 * are skipped.
 */
export async function insertRows(sql: Sql, rows: NewTaskRow[]): Promise<TaskRow[]> {
  if (rows.length === 0) return [];
  const col = <T>(f: (r: NewTaskRow) => T) => rows.map(f);
  const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
  const inserted = await sql<{ id: string }[]>`
    insert into tasks (id, tenant, type, status, priority, payload, max_attempts, timeout_ms, backoff,
                       idempotency_key, request_hash, schedule_id, scheduled_for, run_at, due_at, job_id, created_at)
    select id, tenant, type, status, priority, payload::jsonb, max_attempts, timeout_ms, backoff::jsonb,
           idempotency_key, request_hash, schedule_id, scheduled_for::timestamptz, run_at::timestamptz,
           due_at::timestamptz, job_id, created_at::timestamptz
      from unnest(
        ${col((r) => r.id)}::uuid[], ${col((r) => r.tenant)}::text[], ${col((r) => r.type)}::text[],
        ${col((r) => r.status)}::text[], ${col((r) => r.priority ?? "normal")}::text[],
        ${col((r) => JSON.stringify(r.payload ?? null))}::text[], ${col((r) => r.maxAttempts)}::int[],
        ${col((r) => r.timeoutMs)}::int[], ${col((r) => JSON.stringify(r.backoff))}::text[],
        ${col((r) => r.idempotencyKey ?? null)}::text[], ${col((r) => r.requestHash ?? null)}::text[],
        ${col((r) => r.scheduleId ?? null)}::uuid[], ${col((r) => iso(r.scheduledFor))}::text[],
        ${col((r) => iso(r.runAt))}::text[],
        ${col((r) => iso(r.dueAt) ?? new Date().toISOString())}::text[], ${col((r) => r.jobId)}::text[],
        ${col((r) => iso(r.createdAt) ?? new Date().toISOString())}::text[]
      ) as i(id, tenant, type, status, priority, payload, max_attempts, timeout_ms, backoff, idempotency_key,
             request_hash, schedule_id, scheduled_for, run_at, due_at, job_id, created_at)
    on conflict do nothing
    returning id`;
  // Only ids come back: the rows are the ones we sent, plus the columns' defaults.
  const created = new Set(inserted.map((r) => r.id as string));
  return rows.filter((r) => created.has(r.id as string)).map(insertedRow);
}

/** A row as the insert above wrote it. */
function insertedRow(r: NewTaskRow): TaskRow {
  const now = new Date();
  return {
    id: r.id as string,
    tenant: r.tenant,
    type: r.type,
    status: r.status,
    priority: r.priority ?? "normal",
    payload: r.payload ?? null,
    result: null,
    error: null,
    progress: null,
    attempts: 0,
    maxAttempts: r.maxAttempts,
    timeoutMs: r.timeoutMs,
    backoff: r.backoff,
    stalls: 0,
    idempotencyKey: r.idempotencyKey ?? null,
    requestHash: r.requestHash ?? null,
    scheduleId: r.scheduleId ?? null,
    scheduledFor: r.scheduledFor ?? null,
    runAt: r.runAt ?? null,
    dueAt: r.dueAt ?? now,
    jobId: r.jobId,
    node: null,
    createdAt: r.createdAt ?? now,
    startedAt: null,
    finishedAt: null,
  };
}

/**
 * The ledger: every task and attempt in PostgreSQL. State changes are conditional on the
 * state they expect, so when a cancel and a completion race the first wins and the other
 * changes nothing.
 */
export class Ledger {
  constructor(private readonly pg: DbHandle) {}

  /**
   * Inserts a task; returns null when the tenant's idempotency key is already taken.
   * Concurrent inserts share one multi-row statement (group commit).
   */
  insertTask(row: NewTaskRow): Promise<TaskRow | null> {
    return this.inserts.submit(row);
  }

  private readonly inserts = new GroupCommit<NewTaskRow, TaskRow | null>(async (rows) => {
    const inserted = await insertRows(this.pg.sql, rows);
    const byId = new Map(inserted.map((r) => [r.id, r]));
    return rows.map((r) => byId.get(r.id as string) ?? null);
  }, LEDGER_BATCHING);

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
  startAttempt(taskId: string, node: string): Promise<StartedAttempt | null> {
    return this.starts.submit({ taskId, node });
  }

  private readonly starts = new GroupCommit<{ taskId: string; node: string }, StartedAttempt | null>(async (items) => {
    const { sql } = this.pg;
    const first = new Map<string, number>();
    items.forEach((it, i) => {
      if (!first.has(it.taskId)) first.set(it.taskId, i);
    });
    // Sorted, so concurrent batches tend to lock rows in the same order (a deadlock is retried anyway).
    const unique = [...first.keys()].sort();
    const rows = await sql<(Record<string, unknown> & { n: number; stalledNow: number; waitMs: number })[]>`
      with input as (
        select * from unnest(${unique}::uuid[], ${unique.map((id) => items[first.get(id) as number]?.node ?? "")}::text[])
          as i(task_id, node)
      ), closed as (
        update task_attempts a
           set outcome = 'stalled', finished_at = now(), error = ${JSON.stringify(STALLED_ERROR)}::jsonb,
               duration_ms = greatest(0, extract(epoch from now() - a.started_at) * 1000)::int
          from input i
         where a.task_id = i.task_id and a.outcome = 'running'
        returning a.task_id
      ), stalled as (
        select task_id, count(*)::int as c from closed group by task_id
      ), t as (
        update tasks
           set status = 'running', attempts = tasks.attempts + 1, node = i.node,
               stalls = tasks.stalls + coalesce(s.c, 0),
               started_at = coalesce(tasks.started_at, now())
          from input i left join stalled s on s.task_id = i.task_id
         where tasks.id = i.task_id and tasks.status in ('queued', 'delayed', 'running')
        returning tasks.*
      ), a as (
        insert into task_attempts (task_id, n, tenant, type, node, outcome, started_at, wait_ms)
        select id, attempts, tenant, type, node, 'running', now(),
               greatest(0, extract(epoch from now() - due_at) * 1000)::int
          from t
        returning task_id, n, wait_ms
      )
      select ${sql.unsafe(taskColumns("t"))}, a.n, coalesce(s.c, 0) as "stalledNow", a.wait_ms as "waitMs"
        from t join a on a.task_id = t.id left join stalled s on s.task_id = t.id`;
    const byId = new Map(
      rows.map(({ n, stalledNow, waitMs, ...task }) => [
        task.id as string,
        { task: rawTask(task), n, stalledNow, waitMs },
      ]),
    );
    // A task asked for twice in one batch runs once: the later ask gets null, as after a cancel.
    return items.map((it, i) => (first.get(it.taskId) === i ? (byId.get(it.taskId) ?? null) : null));
  }, LEDGER_BATCHING);

  /**
   * Closes an attempt and moves its task on, in one round trip. Changes nothing when the
   * task left `running` meanwhile (a cancel won) or a newer attempt has opened.
   */
  finishAttempt(end: AttemptEnd): Promise<TaskState | null> {
    return this.finishes.submit(end);
  }

  private readonly finishes = new GroupCommit<AttemptEnd, TaskState | null>(async (ends) => {
    const { sql } = this.pg;
    // Values travel as text arrays and are cast in SQL: one statement for the whole batch,
    // sorted by task so concurrent batches tend to lock rows in the same order.
    const sorted = [...ends].sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
    const col = <T>(f: (e: AttemptEnd) => T) => sorted.map(f);
    const rows = await sql<TaskState[]>`
      with input as (
        select * from unnest(
          ${col((e) => e.taskId)}::uuid[], ${col((e) => e.n)}::int[], ${col((e) => e.outcome)}::text[],
          ${col((e) => (e.error === null ? null : JSON.stringify(e.error)))}::text[],
          ${col((e) => e.status)}::text[],
          ${col((e) => (e.result === undefined ? null : JSON.stringify(e.result)))}::text[],
          ${col((e) => e.dueAt?.toISOString() ?? null)}::text[]
        ) as i(task_id, n, outcome, error, status, result, due_at)
      ), a as (
        update task_attempts ta
           set outcome = i.outcome, error = i.error::jsonb, finished_at = now(),
               duration_ms = greatest(0, extract(epoch from now() - ta.started_at) * 1000)::int
          from input i
         where ta.task_id = i.task_id and ta.n = i.n and ta.outcome = 'running'
        returning ta.task_id
      )
      update tasks
         set status = i.status, error = i.error::jsonb, result = i.result::jsonb,
             progress = case when i.status = 'completed' then 100 else tasks.progress end,
             finished_at = case when i.status in ('completed', 'failed', 'cancelled') then now() end,
             due_at = coalesce(i.due_at::timestamptz, tasks.due_at)
        from input i
       where tasks.id = i.task_id and tasks.status = 'running' and tasks.attempts = i.n
      returning tasks.id, tasks.tenant, tasks.type, tasks.status, tasks.progress, tasks.attempts, tasks.node`;
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ends.map((e) => byId.get(e.taskId) ?? null);
  }, LEDGER_BATCHING);

  /**
   * Inserts a batch in one transaction and one multi-row statement. Rows whose idempotency
   * key is taken come back as the existing task when the body matches; any mismatch throws
   * ConflictError and nothing is kept. Results are in input order.
   */
  async insertBatch(tenant: string, rows: NewTaskRow[]): Promise<{ row: TaskRow; created: boolean }[]> {
    return (await this.pg.sql.begin(async (tx) => {
      const sql = tx as unknown as Sql;
      const inserted = await insertRows(sql, rows);
      const byId = new Map(inserted.map((r) => [r.id, r]));
      const missing = rows.filter((r) => !byId.has(r.id as string));
      const keys = [...new Set(missing.map((r) => r.idempotencyKey).filter((k): k is string => !!k))];
      const existing =
        keys.length === 0
          ? []
          : (
              await sql<Record<string, unknown>[]>`
                select ${sql.unsafe(taskColumns("tasks"))} from tasks
                 where tenant = ${tenant} and idempotency_key = any(${keys}::text[])`
            ).map(rawTask);
      const byKey = new Map(existing.map((r) => [r.idempotencyKey as string, r]));
      return rows.map((r, i) => {
        const fresh = byId.get(r.id as string);
        if (fresh) return { row: fresh, created: true };
        const found = r.idempotencyKey ? byKey.get(r.idempotencyKey) : undefined;
        if (!found || found.requestHash !== r.requestHash) {
          throw new ConflictError(
            `tasks[${i}]: idempotency key '${r.idempotencyKey}' was already used with a different body`,
          );
        }
        return { row: found, created: false };
      });
    })) as { row: TaskRow; created: boolean }[];
  }

  /**
   * Cancels a task that has not finished. Returns the cancelled row, or null when nothing
   * changed (unknown, another tenant's, or already final).
   */
  async cancelTask(id: string, tenant: string | null): Promise<TaskRow | null> {
    const error: TaskError = { code: "cancelled", message: "cancelled by request" };
    const rows = await this.pg.db
      .update(tasks)
      .set({ status: "cancelled", error, finishedAt: sql`now()` })
      .where(
        and(
          eq(tasks.id, id),
          tenant === null ? undefined : eq(tasks.tenant, tenant),
          inArray(tasks.status, ["queued", "delayed", "running"]),
        ),
      )
      .returning();
    return rows[0] ?? null;
  }

  /**
   * Queues failed or cancelled tasks again under new job ids (BullMQ ignores an add whose id
   * still exists). Their attempts stay in the history. Returns the rows it changed.
   */
  async requeueTasks(filter: {
    tenant: string | null;
    ids?: string[];
    type?: string;
    code?: string;
    message?: string;
    since?: Date;
  }): Promise<TaskRow[]> {
    const suffix = `-r${Date.now().toString(36)}`;
    return this.pg.db
      .update(tasks)
      .set({
        status: "queued",
        error: null,
        result: null,
        progress: null,
        finishedAt: null,
        node: null,
        stalls: 0,
        dueAt: sql`now()`,
        jobId: sql`${tasks.id}::text || ${suffix}`,
      })
      .where(
        and(
          filter.ids ? inArray(tasks.id, filter.ids) : undefined,
          filter.tenant === null ? undefined : eq(tasks.tenant, filter.tenant),
          filter.ids ? inArray(tasks.status, ["failed", "cancelled"]) : eq(tasks.status, "failed"),
          filter.type ? eq(tasks.type, filter.type) : undefined,
          filter.code ? sql`${tasks.error}->>'code' = ${filter.code}` : undefined,
          filter.message ? sql`${tasks.error}->>'message' = ${filter.message}` : undefined,
          filter.since ? gte(tasks.finishedAt, filter.since) : undefined,
        ),
      )
      .returning();
  }

  /** One page of tasks, newest first; `cursor` is the last id of the previous page. */
  async listTasks(q: TaskListQuery): Promise<{ rows: TaskRow[]; nextCursor: string | null }> {
    const text = q.q ? `%${q.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
    const rows = await this.pg.db
      .select()
      .from(tasks)
      .where(
        and(
          q.tenant === null ? undefined : eq(tasks.tenant, q.tenant),
          q.status ? eq(tasks.status, q.status) : undefined,
          q.type ? eq(tasks.type, q.type) : undefined,
          q.scheduleId ? eq(tasks.scheduleId, q.scheduleId) : undefined,
          // Ids are UUIDv7: a creation-time range is an id range, served by the primary key.
          q.since ? gte(tasks.id, uuidv7Floor(q.since)) : undefined,
          q.until ? lt(tasks.id, uuidv7Floor(q.until)) : undefined,
          q.cursor ? lt(tasks.id, q.cursor) : undefined,
          text
            ? or(
                sql`${tasks.id}::text ilike ${text}`,
                sql`${tasks.payload}::text ilike ${text}`,
                sql`${tasks.error}::text ilike ${text}`,
              )
            : undefined,
        ),
      )
      .orderBy(desc(tasks.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    return { rows: page, nextCursor: rows.length > q.limit ? (page.at(-1)?.id ?? null) : null };
  }

  /** Failed tasks grouped by cause (type, error code and message), the largest groups first. */
  async failureGroups(q: {
    tenant: string | null;
    type?: string;
    since?: Date;
    limit?: number;
  }): Promise<FailureGroup[]> {
    const rows = await this.pg.db
      .select({
        type: tasks.type,
        code: sql<string>`coalesce(${tasks.error}->>'code', 'unknown')`,
        message: sql<string>`coalesce(${tasks.error}->>'message', '')`,
        count: sql<number>`count(*)::int`,
        lastAt: sql<string>`max(${tasks.finishedAt})`,
        sampleTaskId: sql<string>`(array_agg(${tasks.id} order by ${tasks.finishedAt} desc))[1]`,
      })
      .from(tasks)
      .where(
        and(
          eq(tasks.status, "failed"),
          q.tenant === null ? undefined : eq(tasks.tenant, q.tenant),
          q.type ? eq(tasks.type, q.type) : undefined,
          q.since ? gte(tasks.finishedAt, q.since) : undefined,
        ),
      )
      .groupBy(tasks.type, sql`2`, sql`3`)
      .orderBy(sql`count(*) desc`, sql`max(${tasks.finishedAt}) desc`)
      .limit(q.limit ?? 100);
    // Aggregates come back as the driver's text: the timestamp is made a Date here.
    return rows.map((r) => ({ ...r, lastAt: new Date(r.lastAt) }));
  }

  /** How many tasks are in each status, counted in the ledger. */
  async countByStatus(q: { tenant: string | null; type?: string; since?: Date }): Promise<Record<TaskStatus, number>> {
    const rows = await this.pg.db
      .select({ status: tasks.status, n: sql<number>`count(*)::int` })
      .from(tasks)
      .where(
        and(
          q.tenant === null ? undefined : eq(tasks.tenant, q.tenant),
          q.type ? eq(tasks.type, q.type) : undefined,
          q.since ? gte(tasks.id, uuidv7Floor(q.since)) : undefined,
        ),
      )
      .groupBy(tasks.status);
    const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    for (const r of rows) counts[r.status as TaskStatus] = r.n;
    return counts;
  }

  /** Every queue's kept settings (types never changed have no row). */
  async queueSettingsList(): Promise<QueueSettingsRow[]> {
    return this.pg.db.select().from(queueSettings);
  }

  /** Keeps a queue's pause state, so a Redis that forgets it gets it back. */
  async setQueuePaused(type: string, paused: boolean): Promise<QueueSettingsRow> {
    const rows = await this.pg.db
      .insert(queueSettings)
      .values({ type, paused })
      .onConflictDoUpdate({ target: queueSettings.type, set: { paused, updatedAt: sql`now()` } })
      .returning();
    return rows[0] as QueueSettingsRow;
  }

  /** Keeps a queue's cluster-wide limits; a field left undefined keeps its value, null clears it. */
  async setQueueLimits(
    type: string,
    patch: { rateLimit?: { max: number; durationMs: number } | null; concurrency?: number | null },
  ): Promise<QueueSettingsRow> {
    const set = {
      ...(patch.rateLimit !== undefined ? { rateLimit: patch.rateLimit } : {}),
      ...(patch.concurrency !== undefined ? { concurrency: patch.concurrency } : {}),
      updatedAt: sql`now()`,
    };
    const rows = await this.pg.db
      .insert(queueSettings)
      .values({ type, rateLimit: patch.rateLimit ?? null, concurrency: patch.concurrency ?? null })
      .onConflictDoUpdate({ target: queueSettings.type, set })
      .returning();
    return rows[0] as QueueSettingsRow;
  }

  /** Appends handler log lines (of any tasks) in one statement. */
  async appendLogs(
    lines: { taskId: string; attempt: number; level: string; message: string; at: Date }[],
  ): Promise<void> {
    if (lines.length === 0) return;
    const col = <T>(f: (l: (typeof lines)[number]) => T) => lines.map(f);
    await this.pg.sql`
      insert into task_logs (task_id, attempt, level, message, at)
      select task_id, attempt, level, message, at::timestamptz
        from unnest(${col((l) => l.taskId)}::uuid[], ${col((l) => l.attempt)}::int[], ${col((l) => l.level)}::text[],
                    ${col((l) => l.message)}::text[], ${col((l) => l.at.toISOString())}::text[])
          with ordinality as i(task_id, attempt, level, message, at, ord)
       -- A task pruned meanwhile has no row to hang its lines on.
       where exists (select 1 from tasks where tasks.id = i.task_id)
       -- Ids are handed out in this order: they keep the lines in the order they were logged.
       order by ord`;
  }

  /** A task's log lines, oldest first. */
  async listLogs(taskId: string): Promise<TaskLogRow[]> {
    return this.pg.db.select().from(taskLogs).where(eq(taskLogs.taskId, taskId)).orderBy(asc(taskLogs.id));
  }

  /**
   * Records the latest progress of many running tasks in one statement; answers the ids it
   * wrote. Progress is best effort: a row another statement is changing (a finishing attempt)
   * is skipped, not waited for, and locks are taken in id order, so it never joins a deadlock.
   * `NO KEY UPDATE` leaves it compatible with the key-share locks that log inserts take.
   */
  async setProgress(reports: { taskId: string; progress: number }[]): Promise<Set<string>> {
    if (reports.length === 0) return new Set();
    const rows = await this.pg.sql<{ id: string }[]>`
      with i as (
        select * from unnest(${reports.map((r) => r.taskId)}::uuid[], ${reports.map((r) => r.progress)}::real[])
          as i(id, progress)
      ), locked as (
        select tasks.id from tasks join i on i.id = tasks.id
         where tasks.status = 'running'
         order by tasks.id
           for no key update of tasks skip locked
      )
      update tasks set progress = i.progress
        from i join locked on locked.id = i.id
       where tasks.id = i.id
      returning tasks.id`;
    return new Set(rows.map((r) => r.id));
  }

  /** Worker node liveness rows, on the ledger's connection (what a worker node's heartbeat writes). */
  nodes(): NodeRegistry {
    return new NodeRegistry(this.pg);
  }

  /** Per-minute task metrics, on the ledger's connection (what a worker node's recorder writes). */
  metrics(): MetricsStore {
    return new MetricsStore(this.pg);
  }
}
