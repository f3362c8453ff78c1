import { z } from "zod";
import { defineTaskType } from "./define.ts";

/** Returns its payload: the smallest useful task, for checks and benchmarks. */
export const echo = defineTaskType({
  type: "echo",
  description: "Returns its payload unchanged.",
  schema: z.json(),
  defaults: { timeoutMs: 30_000, concurrency: { min: 10, max: 200 } },
  run: async (payload) => payload,
});
