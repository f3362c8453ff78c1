import { z } from "zod";
import { defineTaskType } from "./define.ts";

const MAX_SLEEP_MS = 3_600_000;

/** Aborted work ends with the signal's reason, so the worker can tell timeout from cancel. */
function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("aborted", "AbortError");
}

/** Waits `ms`, reporting progress about every tenth of the way; stops at once when aborted. */
export const sleep = defineTaskType({
  type: "sleep",
  description: "Waits for `ms` milliseconds, reporting progress; stops at once when aborted.",
  schema: z.object({ ms: z.number().int().min(0).max(MAX_SLEEP_MS) }),
  defaults: { timeoutMs: MAX_SLEEP_MS + 60_000, concurrency: { min: 10, max: 1000 } },
  run: ({ ms }, { signal, progress }) =>
    new Promise<{ sleptMs: number }>((resolve, reject) => {
      if (signal.aborted) return reject(abortError(signal));
      const started = performance.now();
      const step = Math.max(ms / 10, 1);
      let reported = 0;
      let timer: ReturnType<typeof setTimeout>;
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortError(signal));
      };
      const tick = () => {
        const elapsed = performance.now() - started;
        if (elapsed >= ms) {
          signal.removeEventListener("abort", onAbort);
          return resolve({ sleptMs: ms });
        }
        const tenth = Math.floor((elapsed / ms) * 10);
        if (tenth > reported && tenth < 10) {
          reported = tenth;
          progress(tenth * 10);
        }
        timer = setTimeout(tick, Math.min(step, ms - elapsed));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      timer = setTimeout(tick, Math.min(step, ms));
    }),
});
