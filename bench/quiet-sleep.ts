import { BUILT_IN_TYPES, defineTaskType, sleep, TaskCatalog, type TaskType } from "@conveyor/handlers";

/**
 * A bench-only diagnostic: `sleep` without progress reports, to show what the progress
 * writes of the built-in `sleep` cost a node with thousands of tasks in flight.
 */
export const quietSleep = defineTaskType({
  type: "bench_quiet_sleep",
  description: "Waits for `ms` milliseconds without reporting progress (benchmark diagnostic).",
  schema: sleep.schema,
  defaults: sleep.defaults,
  run: ({ ms }, { signal }) =>
    new Promise<{ sleptMs: number }>((resolve, reject) => {
      const timer = setTimeout(() => resolve({ sleptMs: ms }), ms);
      signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          reject(signal.reason);
        },
        { once: true },
      );
    }),
});

/** The built-in catalog plus the bench's diagnostic types. */
export function benchCatalog(): TaskCatalog {
  return new TaskCatalog([...BUILT_IN_TYPES, quietSleep as TaskType]);
}
