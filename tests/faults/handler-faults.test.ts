/**
 * Handlers that misbehave, among ordinary tasks under load: they throw what is not an Error,
 * never settle, or block the event loop for a while. Each such task still ends in a final state
 * with its attempts closed, and the tasks around it are not disturbed. In process (the worker
 * process only knows the built-in types); the real-process faults are in under-load.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BUILT_IN_TYPES, defineTaskType, TaskCatalog } from "@conveyor/handlers";
import { z } from "zod";
import { checkInvariants, runStats, waitAllFinal } from "../harness/faults.ts";
import { createTestStack, type TestStack } from "../harness/index.ts";

const LOCK_MS = 2000;

/** What `throws` throws, by name. */
const THROWN: Record<string, () => unknown> = {
  string: () => "a plain string",
  number: () => 42,
  null: () => null,
  undefined: () => undefined,
  object: () => ({ reason: "no message here" }),
  numberMessage: () => ({ message: 42, code: 7 }),
  // No prototype: String() of it throws a TypeError of its own.
  bare: () => Object.create(null),
  symbol: () => Symbol("thrown"),
  // Messages PostgreSQL cannot store as they are: a NUL byte, and a surrogate pair the 2000-character cut splits.
  nulMessage: () => new Error("bad \u0000 byte"),
  splitPair: () => new Error(`${"x".repeat(1999)}😀`),
  // Every property read throws.
  hostile: () =>
    new Proxy(
      {},
      {
        get() {
          throw new Error("you may not look");
        },
      },
    ),
};

const throws = defineTaskType({
  type: "throws",
  description: "Throws a value that is not an Error.",
  schema: z.object({ kind: z.enum(Object.keys(THROWN) as [string, ...string[]]) }),
  defaults: { maxAttempts: 2, backoff: { strategy: "fixed", delayMs: 10 }, concurrency: { min: 1, max: 20 } },
  run: async ({ kind }) => {
    throw (THROWN[kind] as () => unknown)();
  },
});

/** Results PostgreSQL cannot keep as jsonb, or that are not JSON at all. */
const UNSTORABLE: Record<string, () => unknown> = {
  nul: () => ({ body: "binary\u0000body" }),
  loneSurrogate: () => ({ text: "half \ud800 a pair" }),
  bigint: () => ({ n: 10n }),
  circular: () => {
    const o: Record<string, unknown> = {};
    o.self = o;
    return o;
  },
};

const returnsUnstorable = defineTaskType({
  type: "returns_unstorable",
  description: "Completes with a result the ledger cannot store.",
  schema: z.object({ kind: z.enum(Object.keys(UNSTORABLE) as [string, ...string[]]) }),
  defaults: { maxAttempts: 2, backoff: { strategy: "fixed", delayMs: 10 }, concurrency: { min: 1, max: 20 } },
  run: async ({ kind }) => (UNSTORABLE[kind] as () => unknown)(),
});

const neverSettles = defineTaskType({
  type: "never_settles",
  description: "Returns a promise that never settles and ignores its signal.",
  schema: z.object({}),
  defaults: {
    timeoutMs: 300,
    maxAttempts: 2,
    backoff: { strategy: "fixed", delayMs: 10 },
    concurrency: { min: 1, max: 20 },
  },
  run: () => new Promise<never>(() => {}),
});

const blocksLoop = defineTaskType({
  type: "blocks_loop",
  description: "Keeps the event loop busy for `ms`, then returns.",
  schema: z.object({ ms: z.number().int().max(5000) }),
  defaults: { concurrency: { min: 1, max: 1 } },
  run: async ({ ms }) => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // Busy on purpose: nothing else on this thread runs meanwhile.
    }
    return { blockedMs: ms };
  },
});

describe("misbehaving handlers under load", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await createTestStack({
      label: "handler-faults",
      lockMs: LOCK_MS,
      catalog: new TaskCatalog([...BUILT_IN_TYPES, throws, returnsUnstorable, neverSettles, blocksLoop]),
    });
    await stack.startNode();
  });
  afterAll(() => stack?.close());

  const submitMany = async (tasks: unknown[]): Promise<string[]> => {
    const res = await stack.request("POST", "/v1/tasks/batch", { tasks });
    expect(res.status).toBe(202);
    return ((await res.json()) as { tasks: { id: string }[] }).tasks.map((t) => t.id);
  };
  const rows = (ids: string[]) =>
    stack.runtime.pg.sql<
      { id: string; type: string; status: string; error: { code: string; message: string } | null }[]
    >`
      select id::text, type, status, error from tasks where id = any(${ids}::uuid[])`;
  const outcomes = async (id: string) =>
    (
      await stack.runtime.pg.sql<{ outcome: string }[]>`
        select outcome from task_attempts where task_id = ${id} order by n`
    ).map((a) => a.outcome);
  /** The ledger invariants over this stack, its summary asked of its own api. */
  const invariants = (accepted: string[]) =>
    checkInvariants({
      sql: stack.runtime.pg.sql,
      redisUrl: stack.redis.url,
      prefix: stack.prefix,
      accepted,
      summary: async () => (await (await stack.request("GET", "/v1/tasks/summary")).json()) as Record<string, number>,
    });

  test("non-Error throws fail their task with a readable error, unstorable results fail it, hung handlers time out, a briefly blocked loop loses no lock", async () => {
    const echoes = Array.from({ length: 300 }, (_, i) => ({ type: "echo", payload: { i } }));
    const sleeps = Array.from({ length: 100 }, (_, i) => ({ type: "sleep", payload: { ms: 100 + i * 5 } }));
    const [load1, thrown, unstorable, hung, blocked, load2] = await Promise.all([
      submitMany(echoes.slice(0, 150)),
      submitMany(Object.keys(THROWN).map((kind) => ({ type: "throws", payload: { kind } }))),
      submitMany(Object.keys(UNSTORABLE).map((kind) => ({ type: "returns_unstorable", payload: { kind } }))),
      submitMany(Array.from({ length: 5 }, () => ({ type: "never_settles", payload: {} }))),
      // Each blocks the whole process for a while, one after another; BullMQ renews locks every
      // half lock period, so a block shorter than that delays a renewal but never misses one.
      submitMany(
        Array.from({ length: 4 }, () => ({ type: "blocks_loop", payload: { ms: Math.round(LOCK_MS * 0.3) } })),
      ),
      submitMany([...echoes.slice(150), ...sleeps]),
    ]);
    const all = [...load1, ...thrown, ...unstorable, ...hung, ...blocked, ...load2];
    await waitAllFinal(stack.runtime.pg.sql, all, { timeoutMs: 45_000, what: "every task to be final" });

    for (const t of await rows(thrown)) {
      expect({ type: t.type, status: t.status, code: t.error?.code }).toEqual({
        type: "throws",
        status: "failed",
        code: "handler_error",
      });
      expect(typeof t.error?.message).toBe("string");
      expect(await outcomes(t.id)).toEqual(["failed", "failed"]);
    }
    // Running it again would give the same result: the task fails at once, saying why.
    for (const t of await rows(unstorable)) {
      expect({ status: t.status, code: t.error?.code }).toEqual({ status: "failed", code: "invalid_result" });
      expect(await outcomes(t.id)).toEqual(["failed"]);
    }
    for (const t of await rows(hung)) {
      expect({ status: t.status, code: t.error?.code }).toEqual({ status: "failed", code: "timed_out" });
      expect(await outcomes(t.id)).toEqual(["timed_out", "timed_out"]);
    }
    for (const t of await rows(blocked)) {
      expect(t.status).toBe("completed");
      // The lock was renewed despite the busy loop: the task ran once.
      expect(await outcomes(t.id)).toEqual(["completed"]);
    }
    const load = await runStats(stack.runtime.pg.sql, [...load1, ...load2]);
    expect(load).toMatchObject({ tasks: 400, completed: 400, failed: 0, stalledAttempts: 0, startedTwice: 0 });

    const report = await invariants(all);
    expect({
      missing: report.missing,
      notFinal: report.notFinal,
      badCompletions: report.badCompletions,
      openAttempts: report.openAttempts,
      miscounted: report.miscounted,
      orphanJobs: report.orphanJobs,
      summaryMatches: report.summaryMatches,
    }).toEqual({
      missing: [],
      notFinal: [],
      badCompletions: [],
      openAttempts: [],
      miscounted: [],
      orphanJobs: [],
      summaryMatches: true,
    });
  }, 90_000);
  test("a handler blocking the loop past the lock: the node does not start the tasks beside it again", async () => {
    // Sleeps that are running when the loop stops: their locks lapse meanwhile and BullMQ hands
    // their jobs out again, to this node. It holds them until the first run ends instead of
    // starting a second one (before, each ran up to four times, the runs stalling each other).
    const sleeps = await submitMany(Array.from({ length: 30 }, () => ({ type: "sleep", payload: { ms: 5000 } })));
    await Bun.sleep(300);
    const [blocker] = await submitMany([{ type: "blocks_loop", payload: { ms: Math.round(LOCK_MS * 1.75) } }]);
    const all = [...sleeps, blocker as string];
    await waitAllFinal(stack.runtime.pg.sql, all, { timeoutMs: 45_000, what: "every task to be final" });
    const stats = await runStats(stack.runtime.pg.sql, all);
    console.log(
      `[handler faults] loop blocked ${Math.round(LOCK_MS * 1.75)} ms with lock ${LOCK_MS} ms: ${JSON.stringify(stats)}`,
    );
    expect(stats).toMatchObject({ tasks: 31, completed: 31, failed: 0, stalledAttempts: 0, startedTwice: 0 });
    const report = await invariants(all);
    expect({
      notFinal: report.notFinal,
      badCompletions: report.badCompletions,
      openAttempts: report.openAttempts,
    }).toEqual({
      notFinal: [],
      badCompletions: [],
      openAttempts: [],
    });
  }, 60_000);
});
