import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { LocalRedis } from "@conveyor/core";
import type { Reconciler } from "@conveyor/scheduler";
import { createTestStack, eventually, startPrivateRedis, type TestStack } from "../harness/index.ts";

const TASKS = 50;

describe("Redis forgets every job: the reconciler puts them back from the ledger", () => {
  let stack: TestStack;
  let reconciler: Reconciler;
  let privateRedis: LocalRedis;

  beforeAll(async () => {
    // A redis-server of this suite's own, so it can FLUSHALL for real without touching others.
    privateRedis = await startPrivateRedis("flush");
    stack = await createTestStack({ label: "flush", redisUrl: privateRedis.url });
    reconciler = stack.reconciler();
  });
  afterAll(async () => {
    await stack?.close();
    await privateRedis?.stop();
  });

  const submit = async (body: unknown): Promise<string> => {
    const res = await stack.request("POST", "/v1/tasks", body);
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };

  test(`${TASKS} queued tasks, a delayed one and a paused queue survive a flush; each task runs exactly once`, async () => {
    const echo = stack.runtime.dispatcher.queue("echo");
    const sleep = stack.runtime.dispatcher.queue("sleep");
    const ids = await Promise.all(Array.from({ length: TASKS }, (_, i) => submit({ type: "echo", payload: { i } })));
    const later = await submit({ type: "echo", payload: { later: true }, delayMs: 60_000 });
    await stack.runtime.pg.sql`insert into queue_settings (type, paused) values ('sleep', true)`;
    await sleep.pause();
    const waiting = await echo.getJobCounts("wait", "prioritized", "delayed");
    expect((waiting.wait ?? 0) + (waiting.prioritized ?? 0)).toBe(TASKS);

    expect(await stack.runtime.redis.flushall()).toBe("OK");
    const gone = await echo.getJobCounts("wait", "prioritized", "delayed");
    expect(Object.values(gone).reduce((a, b) => a + b, 0)).toBe(0);
    expect(await sleep.isPaused()).toBe(false);

    const report = await reconciler.runOnce();
    expect(report).toMatchObject({ leader: true, requeued: TASKS + 1, stalled: 0, paused: ["sleep"], errors: [] });
    expect(await sleep.isPaused()).toBe(true);
    expect(await echo.getJobState(later)).toBe("delayed");
    const delay = (await echo.getJob(later))?.delay ?? 0;
    expect(delay).toBeGreaterThan(50_000);
    expect(delay).toBeLessThanOrEqual(60_000);

    // Run again: every job is there now, so nothing is added twice.
    const again = await reconciler.runOnce();
    expect(again).toMatchObject({ leader: true, requeued: 0, paused: [], errors: [] });

    await stack.startNode({ types: ["echo"] });
    await eventually(
      async () => {
        const [row] = await stack.runtime.pg.sql<{ n: number }[]>`
          select count(*)::int as n from tasks where id = any(${ids}::uuid[]) and status = 'completed'`;
        return row?.n === TASKS;
      },
      { what: `all ${TASKS} tasks to complete` },
    );
    const attempts = await stack.runtime.pg.sql<{ outcomes: string[] }[]>`
      select array_agg(outcome order by n) as outcomes from task_attempts
       where task_id = any(${ids}::uuid[]) group by task_id`;
    expect(attempts.length).toBe(TASKS);
    for (const a of attempts) expect(a.outcomes).toEqual(["completed"]);
    const [delayed] = await stack.runtime.pg.sql<{ status: string }[]>`select status from tasks where id = ${later}`;
    expect(delayed?.status).toBe("delayed");
  });
});
