import type { TaskError, TaskStatus } from "@conveyor/core";
import { uuidv7Floor } from "@conveyor/core";
import { inArray } from "drizzle-orm";
import type { DbHandle } from "./client.ts";
import { type QueueSettingsRow, queueSettings, type TaskRow, tasks } from "./schema/index.ts";

/** The error of an attempt whose node died, and of a task that stalled too often. */
export const STALLED_ATTEMPT_ERROR: TaskError = {
  code: "stalled",
  message: "the node running this attempt stopped answering",
};

const CANCELLED_ERROR: TaskError = { code: "cancelled", message: "cancelled by request" };

/** A queued or delayed task as the reconciler needs it to put its job back. */
export interface PendingTask {
  id: string;
  type: string;
  priority: string;
  jobId: string;
  maxAttempts: number;
  /** How long until the task is due, by the database's clock (0 when due already). */
  delayMs: number;
}

/** Where a scan of pending tasks stopped: `due_at` kept as PostgreSQL's text (microseconds). */
export interface PendingCursor {
  dueAt: string;
  id: string;
}

/** One attempt the reconciler closed, and what became of its task. */
export interface ClosedAttempt {
  taskId: string;
  n: number;
  outcome: "stalled" | "cancelled";
  /** The task's new status, or null when the task was left as it was (cancelled, or moved on meanwhile). */
  taskStatus: Extract<TaskStatus, "queued" | "failed"> | null;
}

/**
 * The reconciler's statements. Every change is conditional on the state it expects
 * (`outcome = 'running'`, `status = 'running'`, the attempt still the task's latest), so it
 * never undoes what a live worker has just written.
 */
export class ReconcileQueries {
  constructor(private readonly pg: DbHandle) {}

  /**
   * One page of queued and delayed tasks in `(due_at, id)` order, over the partial index
   * `tasks_pending_due`. Rows made or made due within `minAgeMs` are skipped: whoever wrote
   * them is probably adding their job right now.
   */
  async pendingPage(after: PendingCursor | null, minAgeMs: number, limit: number) {
    const { sql } = this.pg;
    const recent = sql`now() - make_interval(secs => ${minAgeMs / 1000}::float8)`;
    const rows = await sql<(PendingTask & { dueAtText: string })[]>`
      select id, type, priority, job_id as "jobId", max_attempts as "maxAttempts", due_at::text as "dueAtText",
             greatest(0, ceil(extract(epoch from due_at - now()) * 1000))::float8 as "delayMs"
        from tasks
       where status in ('queued', 'delayed')
         and created_at < ${recent}
         and not (due_at > ${recent} and due_at <= now())
         ${
           after
             ? sql`and due_at >= ${after.dueAt}::timestamptz
                   and (due_at > ${after.dueAt}::timestamptz or id > ${after.id}::uuid)`
             : sql``
         }
       order by due_at, id
       limit ${limit}`;
    const last = rows.at(-1);
    return {
      tasks: rows.map(({ dueAtText: _, ...t }) => t as PendingTask),
      next: last ? { dueAt: last.dueAtText, id: last.id } : null,
    };
  }

  /**
   * Of these tasks, those still queued or delayed under the same job id, each with its failed
   * attempts so far: a job added again must carry only the attempts the task has left.
   */
  async stillPending(items: { id: string; jobId: string }[]): Promise<Map<string, number>> {
    if (items.length === 0) return new Map();
    const { sql } = this.pg;
    const rows = await sql<{ id: string; failures: number }[]>`
      select t.id,
             (select count(*) from task_attempts a
               where a.task_id = t.id and a.outcome in ('failed', 'timed_out'))::int as failures
        from tasks t
        join unnest(${items.map((i) => i.id)}::uuid[], ${items.map((i) => i.jobId)}::text[]) as x(id, job_id)
          on x.id = t.id and x.job_id = t.job_id
       where t.status in ('queued', 'delayed')`;
    return new Map(rows.map((r) => [r.id, r.failures]));
  }

  /**
   * Closes up to `limit` running attempts whose node is silent for `staleMs` (or whose node
   * row is gone and the attempt is that old): `stalled`, or `cancelled` when the task was
   * cancelled meanwhile. A running task goes back to `queued` (due now) with one more stall,
   * or fails with `stalled` at its `maxStalls`th.
   */
  async closeStalledAttempts(staleMs: number, maxStalls: number, limit: number): Promise<ClosedAttempt[]> {
    const { sql } = this.pg;
    const cutoff = sql`now() - make_interval(secs => ${staleMs / 1000}::float8)`;
    const stalled = JSON.stringify(STALLED_ATTEMPT_ERROR);
    const cancelled = JSON.stringify(CANCELLED_ERROR);
    return sql<ClosedAttempt[]>`
      with stale as (
        select a.task_id, a.n
          from task_attempts a
          left join nodes nd on nd.id = a.node
         where a.outcome = 'running'
           and (nd.last_seen_at < ${cutoff} or (nd.id is null and a.started_at < ${cutoff}))
         order by a.started_at
         limit ${limit}
           for update of a skip locked
      ), closed as (
        update task_attempts a
           set outcome = case when t.status = 'cancelled' then 'cancelled' else 'stalled' end,
               error = case when t.status = 'cancelled' then coalesce(t.error, ${cancelled}::jsonb)
                            else ${stalled}::jsonb end,
               finished_at = now(),
               duration_ms = greatest(0, extract(epoch from now() - a.started_at) * 1000)::int
          from stale s, tasks t
         where a.task_id = s.task_id and a.n = s.n and a.outcome = 'running' and t.id = a.task_id
        returning a.task_id, a.n, a.outcome
      ), moved as (
        update tasks t
           set stalls = t.stalls + 1,
               status = case when t.stalls + 1 >= ${maxStalls} then 'failed' else 'queued' end,
               error = ${stalled}::jsonb,
               finished_at = case when t.stalls + 1 >= ${maxStalls} then now() end,
               due_at = case when t.stalls + 1 >= ${maxStalls} then t.due_at else now() end
          from closed c
         where t.id = c.task_id and c.outcome = 'stalled' and t.status = 'running' and t.attempts = c.n
        returning t.id, t.status
      )
      select c.task_id as "taskId", c.n, c.outcome, m.status as "taskStatus"
        from closed c
        left join moved m on m.id = c.task_id`;
  }

  /** Deletes up to `limit` tasks (their attempts cascade) that finished over `olderThanMs` ago; returns how many. */
  async pruneFinishedTasks(olderThanMs: number, limit: number): Promise<number> {
    const { sql } = this.pg;
    // An array rather than "in (select ...)": the planner then deletes by primary key instead of
    // hashing the batch against a scan of the whole table.
    // A task that finished before the cutoff was created before it too, and task ids are
    // UUIDv7: walking the primary key up to the cutoff's id finds them without an index on
    // finished_at (one index fewer for every task's three row versions to maintain).
    const cutoff = new Date(Date.now() - olderThanMs);
    const result = await sql`
      delete from tasks
       where id = any(array(
         select id from tasks
          where id < ${uuidv7Floor(cutoff)}::uuid
            and finished_at < ${cutoff.toISOString()}::timestamptz
            and status in ('completed', 'failed', 'cancelled')
          order by id
          limit ${limit}))`;
    return result.count;
  }

  /** Tasks by id, as they are now. */
  async tasksByIds(ids: string[]): Promise<TaskRow[]> {
    if (ids.length === 0) return [];
    return this.pg.db.select().from(tasks).where(inArray(tasks.id, ids));
  }

  /** Every queue's settings as PostgreSQL keeps them. */
  async queueSettings(): Promise<QueueSettingsRow[]> {
    return this.pg.db.select().from(queueSettings);
  }
}
