import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ScalingService, type ScalingSignal } from "@conveyor/scheduler";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";

// GET /v1/scaling against a real ledger: what counts as backlog, arrivals and completions, and
// what the node count asked for follows from them.
describe("GET /v1/scaling", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await createTestStack({ label: "scaling" });
  });
  afterAll(() => stack?.close());

  const scaling = async () => {
    const res = await stack.request("GET", "/v1/scaling");
    expect(res.status).toBe(200);
    return (await res.json()) as ScalingSignal;
  };
  const submit = async (body: Record<string, unknown>) => {
    const res = await stack.request("POST", "/v1/tasks", body);
    expect(res.status).toBe(202);
  };
  const service = (targetDrainSeconds: number) =>
    new ScalingService({ ledger: stack.runtime.ledger, nodes: stack.runtime.nodes }, { targetDrainSeconds });

  test("admin only", async () => {
    const created = await stack.request("POST", "/v1/keys", {
      tenant: "acme",
      name: "reader",
      scopes: ["tasks:write"],
    });
    const { key } = (await created.json()) as { key: string };
    const res = await stack.request("GET", "/v1/scaling", undefined, key);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    expect((await stack.request("GET", "/v1/scaling", undefined, null)).status).toBe(401);
  });

  test("nothing submitted: no backlog, no rate, one node", async () => {
    expect(await scaling()).toEqual({
      backlog: 0,
      arrivalPerSec: 0,
      completionPerSec: 0,
      drainSeconds: null,
      activeNodes: 0,
      desiredNodes: 1,
    });
  });

  test("backlog: queued and due tasks of queues not paused; then a node's completions give the rate", async () => {
    expect((await stack.request("POST", "/v1/queues/echo/pause")).status).toBe(200);
    for (let i = 0; i < 5; i++) await submit({ type: "echo", payload: i });
    for (let i = 0; i < 7; i++) await submit({ type: "sleep", payload: { ms: 20 } });
    for (let i = 0; i < 2; i++) await submit({ type: "sleep", payload: { ms: 20 }, delayMs: 600_000 });

    const now = Date.now();
    const measured = await service(60).signal(now);
    // Arrivals are counted from the start of the previous minute: 9 sleep tasks (echo is paused).
    const seconds = (now - (Math.floor(now / 60_000) * 60_000 - 60_000)) / 1000;
    expect(measured.arrivalPerSec).toBeCloseTo(9 / seconds, 2);
    expect(measured).toMatchObject({ backlog: 7, completionPerSec: 0, drainSeconds: null, activeNodes: 0 });
    // A backlog and no node: ask for one.
    expect(measured.desiredNodes).toBe(1);
    expect(await scaling()).toMatchObject({ backlog: 7, activeNodes: 0, desiredNodes: 1 });

    await stack.startNode({ types: ["sleep"] });
    // Completions reach the rollups with the node's periodic flush (every 5 s).
    const drained = await eventually(
      async () => {
        const s = await scaling();
        return s.backlog === 0 && s.drainSeconds !== null && s;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: "the backlog to drain and the completions to be measured" },
    );
    expect(drained.activeNodes).toBe(1);
    expect(drained.completionPerSec).toBeGreaterThan(0);
    expect(drained.drainSeconds).toBe(0);
    expect(drained.desiredNodes).toBe(1);

    // The paused queue's 5 tasks count once it resumes; no node serves echo, so they stay waiting.
    expect((await stack.request("POST", "/v1/queues/echo/resume")).status).toBe(200);
    const resumed = await scaling();
    expect(resumed.backlog).toBe(5);
    expect(resumed.drainSeconds).toBeCloseTo(5 / resumed.completionPerSec, 0);
    // Draining 5 tasks within a tenth of a second is far beyond one node's measured rate.
    const urgent = await service(0.1).signal();
    expect(urgent.backlog).toBe(5);
    expect(urgent.desiredNodes).toBeGreaterThan(urgent.activeNodes);
    // Paused again: no backlog, and no more nodes than are up.
    expect((await stack.request("POST", "/v1/queues/echo/pause")).status).toBe(200);
    const paused = await service(0.1).signal();
    expect(paused.backlog).toBe(0);
    expect(paused.desiredNodes).toBe(1);
  }, 40_000);
});
