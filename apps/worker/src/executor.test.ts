import { describe, expect, test } from "bun:test";
import { defineTaskType, echo, sleep, TaskFailure, type TaskType } from "@conveyor/handlers";
import { z } from "zod";
import { execute, unstorableResult } from "./executor.ts";

const progressSeen: number[] = [];
const ctx = {
  attempt: 1,
  taskId: "01900000-0000-7000-8000-000000000000",
  progress: (n: number) => void progressSeen.push(n),
  log: () => {},
};

/** A task type whose handler is `run`, any payload. */
function handler(run: (signal: AbortSignal) => Promise<unknown>): TaskType {
  return defineTaskType({
    type: "test_handler",
    description: "test",
    schema: z.unknown(),
    run: (_payload, { signal }) => run(signal),
  }) as TaskType;
}

/** A promise that never settles: a handler that ignores its signal entirely. */
const forever = () => new Promise<never>(() => {});

const asType = (t: unknown) => t as TaskType;

describe("execute", () => {
  test("a handler's result completes the attempt", async () => {
    const payload = { a: [1, 2], b: "x" };
    expect(await execute(asType(echo), payload, ctx, { timeoutMs: 1000 })).toEqual({
      kind: "completed",
      result: payload,
    });
  });

  test("a handler that returns nothing completes with result null", async () => {
    expect(
      await execute(
        handler(async () => undefined),
        {},
        ctx,
        { timeoutMs: 1000 },
      ),
    ).toEqual({
      kind: "completed",
      result: null,
    });
  });

  test("a handler that throws fails with handler_error, retryable", async () => {
    const outcome = await execute(
      handler(async () => {
        throw new Error("boom");
      }),
      {},
      ctx,
      { timeoutMs: 1000 },
    );
    expect(outcome).toEqual({
      kind: "failed",
      outcome: "failed",
      error: { code: "handler_error", message: "boom" },
      retryable: true,
    });
  });

  test("a thrown non-Error is still handler_error with a message", async () => {
    const outcome = await execute(
      handler(async () => {
        throw "plain string";
      }),
      {},
      ctx,
      { timeoutMs: 1000 },
    );
    expect(outcome).toMatchObject({
      kind: "failed",
      error: { code: "handler_error", message: "plain string" },
      retryable: true,
    });
  });

  test("a thrown value that throws when read is handler_error too, not an exception out of execute", async () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error("you may not look");
        },
      },
    );
    for (const thrown of [hostile, Object.create(null)]) {
      const outcome = await execute(
        handler(async () => {
          throw thrown;
        }),
        {},
        ctx,
        { timeoutMs: 1000 },
      );
      expect(outcome).toMatchObject({ kind: "failed", outcome: "failed", error: { code: "handler_error" } });
    }
  });

  test("an error message loses NUL bytes and never ends in half a surrogate pair", async () => {
    for (const [thrown, expected] of [
      [new Error("bad \u0000 byte"), "bad  byte"],
      [new Error(`${"x".repeat(1999)}😀`), `${"x".repeat(1999)}\ufffd`],
    ] as const) {
      const outcome = await execute(
        handler(async () => {
          throw thrown;
        }),
        {},
        ctx,
        { timeoutMs: 1000 },
      );
      expect(outcome).toMatchObject({ kind: "failed", error: { code: "handler_error", message: expected } });
    }
  });

  test("a result PostgreSQL cannot store fails with invalid_result, not retryable", async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const result of [{ s: "a\u0000b" }, { s: "half \ud800" }, { ["k\u0000"]: 1 }, { n: 1n }, circular]) {
      const outcome = await execute(
        handler(async () => result),
        {},
        ctx,
        { timeoutMs: 1000 },
      );
      expect(outcome).toMatchObject({ kind: "failed", error: { code: "invalid_result" }, retryable: false });
    }
    // An escaped backslash before "u0000" is plain text, and a whole surrogate pair is fine.
    expect(unstorableResult({ s: "\\u0000 and \\ud800", e: "😀" })).toBeNull();
  });

  test("a TaskFailure's code and retryable are kept", async () => {
    const final = await execute(
      handler(async () => {
        throw new TaskFailure("unexpected_status", "got 404", false);
      }),
      {},
      ctx,
      { timeoutMs: 1000 },
    );
    expect(final).toEqual({
      kind: "failed",
      outcome: "failed",
      error: { code: "unexpected_status", message: "got 404" },
      retryable: false,
    });
    const transient = await execute(
      handler(async () => {
        throw new TaskFailure("upstream_busy", "try later");
      }),
      {},
      ctx,
      { timeoutMs: 1000 },
    );
    expect(transient).toMatchObject({ error: { code: "upstream_busy", message: "try later" }, retryable: true });
  });

  test("a very long error message is cut", async () => {
    const outcome = await execute(
      handler(async () => {
        throw new Error("x".repeat(10_000));
      }),
      {},
      ctx,
      { timeoutMs: 1000 },
    );
    expect(outcome.kind === "failed" && outcome.error.message.length).toBeLessThanOrEqual(2000);
  });

  test("an invalid payload fails with invalid_payload, not retryable, without running the handler", async () => {
    let ran = false;
    const strict = defineTaskType({
      type: "strict",
      description: "test",
      schema: z.object({ n: z.number() }),
      run: async () => {
        ran = true;
      },
    }) as unknown as TaskType;
    const outcome = await execute(strict, { n: "1" }, ctx, { timeoutMs: 1000 });
    expect(outcome).toMatchObject({
      kind: "failed",
      outcome: "failed",
      error: { code: "invalid_payload" },
      retryable: false,
    });
    expect(ran).toBe(false);
    expect(await execute(asType(sleep), { ms: -1 }, ctx, { timeoutMs: 1000 })).toMatchObject({
      error: { code: "invalid_payload" },
      retryable: false,
    });
  });

  test("a timeout ends the attempt as timed_out even when the handler ignores its signal", async () => {
    const started = performance.now();
    const outcome = await execute(handler(forever), {}, ctx, { timeoutMs: 100 });
    const took = performance.now() - started;
    expect(outcome).toEqual({
      kind: "failed",
      outcome: "timed_out",
      error: { code: "timed_out", message: expect.stringContaining("100 ms") },
      retryable: true,
    });
    expect(took).toBeGreaterThanOrEqual(90);
    // Ended long before the handler would have (it never would).
    expect(took).toBeLessThan(3000);
  });

  test("the handler's signal aborts with the timeout", async () => {
    let seen: AbortSignal | undefined;
    await execute(
      handler((signal) => {
        seen = signal;
        return forever();
      }),
      {},
      ctx,
      { timeoutMs: 50 },
    );
    expect(seen?.aborted).toBe(true);
  });

  test("the cancel signal ends a running attempt as cancelled, not retryable", async () => {
    const cancel = new AbortController();
    const started = performance.now();
    setTimeout(() => cancel.abort(), 50);
    const outcome = await execute(asType(sleep), { ms: 5000 }, ctx, { timeoutMs: 10_000, cancel: cancel.signal });
    expect(outcome).toMatchObject({
      kind: "failed",
      outcome: "cancelled",
      error: { code: "cancelled" },
      retryable: false,
    });
    // Ended before the 5 s sleep would have.
    expect(performance.now() - started).toBeLessThan(2500);
  });

  test("a cancel's reason becomes the error message; a bare abort() says the task was cancelled", async () => {
    const cases: [unknown, string][] = [
      [undefined, "the task was cancelled"],
      ["cancelled by the operator", "cancelled by the operator"],
      [new Error("cancelled through the API"), "cancelled through the API"],
    ];
    for (const [reason, message] of cases) {
      const cancel = new AbortController();
      if (reason === undefined) cancel.abort();
      else cancel.abort(reason);
      const outcome = await execute(asType(sleep), { ms: 5000 }, ctx, { timeoutMs: 10_000, cancel: cancel.signal });
      expect(outcome).toMatchObject({ outcome: "cancelled", error: { code: "cancelled", message } });
    }
  });

  test("a handler that ignores its signal is still cancelled", async () => {
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(), 20);
    const outcome = await execute(handler(forever), {}, ctx, { timeoutMs: 10_000, cancel: cancel.signal });
    expect(outcome).toMatchObject({ outcome: "cancelled", error: { code: "cancelled" } });
  });

  test("an already-aborted cancel signal cancels at once", async () => {
    const cancel = new AbortController();
    cancel.abort();
    const started = performance.now();
    const outcome = await execute(asType(sleep), { ms: 5000 }, ctx, { timeoutMs: 10_000, cancel: cancel.signal });
    expect(outcome).toMatchObject({ outcome: "cancelled", retryable: false });
    expect(performance.now() - started).toBeLessThan(2500);
  });

  test("shutdown ends the attempt as interrupted, retryable", async () => {
    const shutdown = new AbortController();
    setTimeout(() => shutdown.abort(), 20);
    const outcome = await execute(asType(sleep), { ms: 5000 }, ctx, { timeoutMs: 10_000, shutdown: shutdown.signal });
    expect(outcome).toMatchObject({ kind: "failed", outcome: "interrupted", retryable: true });
  });

  test("a completion is not turned into a failure by a later cancel", async () => {
    const cancel = new AbortController();
    const outcome = await execute(asType(echo), 1, ctx, { timeoutMs: 1000, cancel: cancel.signal });
    cancel.abort();
    expect(outcome).toEqual({ kind: "completed", result: 1 });
  });
});

describe("the sleep handler", () => {
  test("completes after its time, reporting progress on the way", async () => {
    progressSeen.length = 0;
    const result = await sleep.run({ ms: 200 }, { ...ctx, signal: new AbortController().signal });
    expect(result).toEqual({ sleptMs: 200 });
    expect(progressSeen.length).toBeGreaterThan(0);
    expect(progressSeen.every((p) => p > 0 && p < 100)).toBe(true);
    expect([...progressSeen].sort((a, b) => a - b)).toEqual(progressSeen);
  });

  test("ms 0 completes at once", async () => {
    expect(await sleep.run({ ms: 0 }, { ...ctx, signal: new AbortController().signal })).toEqual({ sleptMs: 0 });
  });

  test("stops at once when aborted, with the signal's reason, and reports nothing after", async () => {
    const controller = new AbortController();
    progressSeen.length = 0;
    const run = sleep.run({ ms: 5000 }, { ...ctx, signal: controller.signal });
    await Bun.sleep(100);
    const reason = new Error("stop now");
    const abortedAt = performance.now();
    controller.abort(reason);
    const err = await run.then(
      () => {
        throw new Error("expected the sleep to be aborted");
      },
      (e: unknown) => e,
    );
    expect(performance.now() - abortedAt).toBeLessThan(50);
    expect(err).toBe(reason);
    const reported = progressSeen.length;
    await Bun.sleep(600);
    expect(progressSeen.length).toBe(reported);
  });

  test("an already-aborted signal rejects without waiting", async () => {
    const controller = new AbortController();
    controller.abort();
    const started = performance.now();
    await expect(sleep.run({ ms: 5000 }, { ...ctx, signal: controller.signal })).rejects.toBeDefined();
    expect(performance.now() - started).toBeLessThan(50);
  });
});
