import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, type TestStack } from "../harness/index.ts";

describe("the reconciler: one leader at a time, retention", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await createTestStack({ label: "reconciler" });
  });
  afterAll(() => stack?.close());

  const reconciler = () => stack.reconciler();

  test("only the lock holder works; `force` works anyway; a stopped leader hands over at once", async () => {
    const a = reconciler();
    const b = reconciler();
    expect((await a.runOnce()).leader).toBe(true);
    expect(await b.runOnce()).toMatchObject({ leader: false, requeued: 0, errors: [] });
    expect((await a.runOnce()).leader).toBe(true);
    expect(await stack.runtime.redis.get(`${stack.prefix}:reconciler:leader`)).toBe(a.id);

    // Forced, a non-leader does the work (and still is not the leader).
    await stack.runtime.pg.sql`insert into queue_settings (type, paused) values ('echo', true)`;
    expect(await b.runOnce({ force: true })).toMatchObject({ leader: false, paused: ["echo"] });

    await a.stop();
    expect((await b.runOnce()).leader).toBe(true);
    expect((await a.runOnce()).leader).toBe(false);
  });

  test("finished tasks past retention are deleted with their attempts; the rest stay", async () => {
    const days = (n: number) => new Date(Date.now() - n * 86_400_000);
    // Tasks as they would be had they been submitted weeks ago: id, created_at and finish alike.
    const task = async (createdAt: Date, status: string, finishedAt: Date | null) => {
      // A UUIDv7 as one made at `createdAt` would be: the task is old for real.
      const id = Bun.randomUUIDv7("hex", createdAt);
      await stack.runtime.pg.sql`
        insert into tasks (id, tenant, type, status, payload, max_attempts, timeout_ms, backoff, job_id,
                           created_at, due_at, finished_at, attempts)
        values (${id}, 'default', 'echo', ${status}, '{}'::jsonb, 3, 30000, '{"strategy":"fixed","delayMs":0}'::jsonb,
                ${id}, ${createdAt.toISOString()}::timestamptz, ${createdAt.toISOString()}::timestamptz,
                ${finishedAt?.toISOString() ?? null}::timestamptz, ${finishedAt ? 1 : 0})`;
      if (finishedAt) {
        await stack.runtime.pg.sql`
          insert into task_attempts (task_id, n, tenant, type, node, outcome, started_at, finished_at)
          values (${id}, 1, 'default', 'echo', 'gone-node', 'completed', ${createdAt.toISOString()}::timestamptz,
                  ${finishedAt.toISOString()}::timestamptz)`;
      }
      return id;
    };
    const old = await task(days(40), "completed", days(31));
    // Created long ago but finished yesterday (a long delay): kept, its result is recent.
    const lateFinish = await task(days(40), "completed", days(1));
    const recent = await task(days(2), "failed", days(1));
    const waiting = await task(days(40), "delayed", null);

    const r = reconciler();
    const report = await r.runOnce({ force: true });
    expect(report.prunedTasks).toBe(1);
    const left = await stack.runtime.pg.sql<
      { id: string }[]
    >`select id from tasks where id in (${old}, ${lateFinish}, ${recent}, ${waiting})`;
    expect(left.map((t) => t.id).sort()).toEqual([lateFinish, recent, waiting].sort());
    const attempts = await stack.runtime.pg.sql`select 1 from task_attempts where task_id = ${old}`;
    expect(attempts.length).toBe(0);
  });
});
