import { and, asc, eq, sql } from "drizzle-orm";
import type { Sql } from "postgres";
import type { DbHandle } from "./client.ts";
import { insertRows } from "./ledger.ts";
import { type NewScheduleRow, type NewTaskRow, type ScheduleRow, schedules, type TaskRow } from "./schema/index.ts";

/** What `PATCH /v1/schedules/:id` may change; a field left undefined keeps its value. */
export type SchedulePatch = Partial<
  Pick<NewScheduleRow, "name" | "cron" | "everyMs" | "timezone" | "task" | "paused" | "anchorAt">
>;

/** Schedules in PostgreSQL: the record the job schedulers in Redis are rebuilt from. */
export class ScheduleStore {
  constructor(private readonly pg: DbHandle) {}

  async insert(row: NewScheduleRow): Promise<ScheduleRow> {
    const rows = await this.pg.db.insert(schedules).values(row).returning();
    return rows[0] as ScheduleRow;
  }

  /** A schedule by id; with `tenant` (not null), only that tenant's. */
  async get(id: string, tenant: string | null): Promise<ScheduleRow | null> {
    const rows = await this.pg.db
      .select()
      .from(schedules)
      .where(and(eq(schedules.id, id), tenant === null ? undefined : eq(schedules.tenant, tenant)))
      .limit(1);
    return rows[0] ?? null;
  }

  /** A tenant's schedules (null: every tenant's), oldest first. */
  async list(tenant: string | null): Promise<ScheduleRow[]> {
    return this.pg.db
      .select()
      .from(schedules)
      .where(tenant === null ? undefined : eq(schedules.tenant, tenant))
      .orderBy(asc(schedules.id));
  }

  /** Changes a schedule; null when there is no such schedule in the tenant. */
  async update(id: string, tenant: string | null, patch: SchedulePatch): Promise<ScheduleRow | null> {
    const rows = await this.pg.db
      .update(schedules)
      .set({ ...patch, updatedAt: sql`now()` })
      .where(and(eq(schedules.id, id), tenant === null ? undefined : eq(schedules.tenant, tenant)))
      .returning();
    return rows[0] ?? null;
  }

  /** Deletes a schedule (its runs stay, as tasks); false when there was none in the tenant. */
  async delete(id: string, tenant: string | null): Promise<boolean> {
    const rows = await this.pg.db
      .delete(schedules)
      .where(and(eq(schedules.id, id), tenant === null ? undefined : eq(schedules.tenant, tenant)))
      .returning({ id: schedules.id });
    return rows.length > 0;
  }

  /** Ids of schedules that should tick (not paused), with what their job scheduler needs. */
  async active(): Promise<ScheduleRow[]> {
    return this.pg.db.select().from(schedules).where(eq(schedules.paused, false));
  }

  /**
   * Inserts a run's task and records it as the schedule's last run, in one transaction. A tick
   * whose task exists already (the same tick handled twice) inserts nothing and answers null.
   * The last run only moves forward: a late tick does not hide a newer trigger.
   */
  async insertRun(row: NewTaskRow & { scheduleId: string }, at: Date): Promise<TaskRow | null> {
    return (await this.pg.sql.begin(async (tx) => {
      const sql = tx as unknown as Sql;
      const [inserted] = await insertRows(sql, [row]);
      if (!inserted) return null;
      await sql`
        update schedules set last_run_at = ${at.toISOString()}::timestamptz, last_task_id = ${inserted.id}::uuid
         where id = ${row.scheduleId}::uuid
           and (last_run_at is null or last_run_at <= ${at.toISOString()}::timestamptz)`;
      return inserted;
    })) as TaskRow | null;
  }
}
