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
    const submit = async () => {
      const res = await stack.request("POST", "/v1/tasks", { type: "echo", payload: {} });
      return ((await res.json()) as { id: string }).id;
    };
    const [old, recent, waiting] = [await submit(), await submit(), await submit()];
    for (const id of [old, recent]) await stack.runtime.ledger.startAttempt(id, "gone-node");
    await stack.runtime.pg.sql`
      update task_attempts set outcome = 'completed', finished_at = now() where task_id in (${old}, ${recent})`;
    await stack.runtime.pg.sql`
      update tasks set status = 'completed', finished_at = now() - interval '31 days' where id = ${old}`;
    await stack.runtime.pg.sql`update tasks set status = 'completed', finished_at = now() where id = ${recent}`;
    await stack.runtime.pg.sql`update tasks set created_at = now() - interval '40 days' where id = ${waiting}`;

    const r = reconciler();
    const report = await r.runOnce({ force: true });
    expect(report.prunedTasks).toBe(1);
    const left = await stack.runtime.pg.sql<
      { id: string }[]
    >`select id from tasks where id in (${old}, ${recent}, ${waiting})`;
    expect(left.map((t) => t.id).sort()).toEqual([recent, waiting].sort());
    const attempts = await stack.runtime.pg.sql`select 1 from task_attempts where task_id = ${old}`;
    expect(attempts.length).toBe(0);
  });
});
