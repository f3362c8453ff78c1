import { PRIORITIES } from "@conveyor/core";
import { z } from "zod";

export const Backoff = z.strictObject({
  strategy: z.enum(["exponential", "fixed"]),
  delayMs: z.number().int().min(0).max(86_400_000),
  jitter: z.number().min(0).max(1).optional(),
});

/** The body of `POST /v1/tasks`, and each item of a batch. */
export const SubmitTask = z.strictObject({
  type: z.string().min(1).max(63),
  payload: z.unknown(),
  priority: z.enum(PRIORITIES).optional(),
  timeoutMs: z.number().int().min(1).max(86_400_000).optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  backoff: Backoff.optional(),
  delayMs: z.number().int().min(0).max(31_536_000_000).optional(),
  runAt: z.iso.datetime({ offset: true }).optional(),
  idempotencyKey: z.string().min(1).max(255).optional(),
});
export type SubmitTask = z.infer<typeof SubmitTask>;
