import { z } from "zod";
import { defineTaskType } from "../define.ts";
import { TaskFailure } from "../failure.ts";

/**
 * The example of docs/task-types.md: counts down from `from`, one step every `stepMs`,
 * reporting progress and logging each step, and stops at once when its signal aborts.
 */
export const countdown = defineTaskType({
  type: "countdown",
  description: "Counts down from `from` to zero, one step every `stepMs`, logging each step.",
  schema: z.strictObject({
    from: z.number().int().min(1).max(1000),
    stepMs: z.number().int().min(0).max(60_000).default(100),
    /** Fail on purpose at this number, to see retries. */
    failAt: z.number().int().min(0).optional(),
  }),
  defaults: {
    timeoutMs: 120_000,
    maxAttempts: 2,
    backoff: { strategy: "fixed", delayMs: 500 },
    concurrency: { min: 1, max: 20 },
  },
  run: async ({ from, stepMs, failAt }, { signal, progress, log, attempt }) => {
    log(`attempt ${attempt}: counting down from ${from}`);
    for (let n = from; n > 0; n--) {
      // Throwing the signal's reason lets the worker tell a timeout from a cancel.
      signal.throwIfAborted();
      if (n === failAt) throw new TaskFailure("reached_fail_at", `asked to fail at ${n}`, attempt < 2);
      log(`${n}`);
      progress(((from - n) / from) * 100);
      await abortableSleep(stepMs, signal);
    }
    log("lift-off");
    return { counted: from };
  },
});

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
