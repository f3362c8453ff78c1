import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Reconciler } from "@conveyor/scheduler";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";

type Task = { id: string; status: string; attempts: number; error: { code: string } | null; finishedAt: string | null };
type Attempt = { n: number; node: string; outcome: string; error: { code: string } | null };

describe("a node dies mid-task: the reconciler closes its attempt as stalled and the task runs again", () => {
  let stack: TestStack;
  let reconciler: Reconciler;

  beforeAll(async () => {
    // A short lock, so BullMQ hands a dead node's job back within seconds.
    stack = await createTestStack({ label: "stalled", lockMs: 2000 });
    reconciler = stack.reconciler();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const submit = async (body: unknown): Promise<string> => {
    const res = await stack.request("POST", "/v1/tasks", body);
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  const task = async (id: string) => (await (await stack.request("GET", `/v1/tasks/${id}`)).json()) as Task;
  const attempts = async (id: string) =>
    ((await (await stack.request("GET", `/v1/tasks/${id}/attempts`)).json()) as { attempts: Attempt[] }).attempts;
  const stalls = async (id: string) =>
    (await stack.runtime.pg.sql<{ stalls: number }[]>`select stalls from tasks where id = ${id}`)[0]?.stalls;
  const jobExists = async (id: string) => (await stack.runtime.redis.exists(`${stack.prefix}:{echo}:${id}`)) === 1;

  test("killed while running: attempts [stalled, completed] and the task completes on another node", async () => {
    const first = await stack.startNode({ types: ["sleep"] });
    const id = await submit({ type: "sleep", payload: { ms: 1500 } });
    await eventually(async () => (await task(id)).status === "running", { what: "the task to start", intervalMs: 5 });
    await first.kill();

    // Nothing happens while the node could still be alive.
    expect((await reconciler.runOnce()).stalled).toBe(0);
    expect((await task(id)).status).toBe("running");

    await stack.runtime.pg.sql`update nodes set last_seen_at = now() - interval '1 minute' where id = ${first.id}`;
    const report = await reconciler.runOnce();
    expect(report).toMatchObject({ leader: true, stalled: 1, failed: 0, requeued: 0, errors: [] });
    expect((await task(id)).status).toBe("queued");
    expect(await stalls(id)).toBe(1);
    expect((await attempts(id)).map((a) => [a.outcome, a.error?.code])).toEqual([["stalled", "stalled"]]);

    // BullMQ still holds the job as active under the dead node's lock; once the lock expires,
    // the new node's stalled check moves it back to wait and the node takes it.
    const second = await stack.startNode({ types: ["sleep"] });
    await eventually(async () => (await task(id)).status === "completed", {
      what: "the task to complete on the second node",
      timeoutMs: 15_000,
    });
    const done = await attempts(id);
    expect(done.map((a) => a.outcome)).toEqual(["stalled", "completed"]);
    expect(done.map((a) => a.node)).toEqual([first.id, second.id]);
    expect((await task(id)).attempts).toBe(2);
  });

  test("a node whose row is gone and whose job Redis lost: the job is added again", async () => {
    // No node serves echo yet, so the job waits in Redis until we take it away.
    const id = await submit({ type: "echo", payload: { ghost: true } });
    await stack.runtime.dispatcher.remove("echo", id);
    expect(await jobExists(id)).toBe(false);
    await stack.runtime.ledger.startAttempt(id, "ghost-node");
    // An attempt younger than the stale threshold may belong to a node about to announce itself.
    expect((await reconciler.runOnce()).stalled).toBe(0);
    await stack.runtime.pg.sql`update task_attempts set started_at = now() - interval '1 minute' where task_id = ${id}`;

    const report = await reconciler.runOnce();
    expect(report).toMatchObject({ stalled: 1, failed: 0, errors: [] });
    expect((await task(id)).status).toBe("queued");
    expect(await jobExists(id)).toBe(true);

    await stack.startNode({ types: ["echo"] });
    await eventually(async () => (await task(id)).status === "completed", { what: "the task to complete" });
    expect((await attempts(id)).map((a) => a.outcome)).toEqual(["stalled", "completed"]);
  });

  test("the third stall fails the task with `stalled`; a cancelled task's attempt closes as cancelled", async () => {
    await stack.runtime.dispatcher.queue("echo").pause();
    const tired = await submit({ type: "echo", payload: { tired: true } });
    const cancelled = await submit({ type: "echo", payload: { cancelled: true } });
    for (const id of [tired, cancelled]) {
      await stack.runtime.dispatcher.remove("echo", id);
      await stack.runtime.ledger.startAttempt(id, "ghost-node");
    }
    await stack.runtime.pg.sql`update tasks set stalls = 2 where id = ${tired}`;
    await stack.runtime.pg.sql`update tasks set status = 'cancelled', finished_at = now() where id = ${cancelled}`;
    await stack.runtime.pg.sql`
      update task_attempts set started_at = now() - interval '1 minute' where task_id in (${tired}, ${cancelled})`;

    const report = await reconciler.runOnce();
    expect(report).toMatchObject({ stalled: 1, failed: 1, cancelled: 1, requeued: 0, errors: [] });
    const failed = await task(tired);
    expect(failed.status).toBe("failed");
    expect(failed.error?.code).toBe("stalled");
    expect(failed.finishedAt).not.toBeNull();
    expect(await stalls(tired)).toBe(3);
    expect(await jobExists(tired)).toBe(false);
    expect((await attempts(cancelled)).map((a) => a.outcome)).toEqual(["cancelled"]);
    expect((await task(cancelled)).status).toBe("cancelled");
    await stack.runtime.dispatcher.queue("echo").resume();
  });
});
