import { PRIORITIES, TASK_STATUSES } from "@conveyor/core";
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

/** The body of `POST /v1/tasks/batch`: 1 to 1000 tasks, all or nothing. */
export const SubmitBatch = z.strictObject({
  tasks: z.array(SubmitTask).min(1).max(1000),
});

const isoDate = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

/** The query of `GET /v1/tasks`. */
export const ListTasksQuery = z.strictObject({
  status: z.enum(TASK_STATUSES).optional(),
  type: z.string().min(1).max(63).optional(),
  scheduleId: z.uuid().optional(),
  q: z.string().min(1).max(200).optional(),
  since: isoDate.optional(),
  until: isoDate.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.uuid().optional(),
});

/** The query of `GET /v1/tasks/summary` and `/failures`. */
export const SummaryQuery = z.strictObject({
  type: z.string().min(1).max(63).optional(),
  since: isoDate.optional(),
});

/** The query of `GET /v1/tasks/:id`. */
export const GetTaskQuery = z.strictObject({
  waitMs: z.coerce.number().int().min(0).max(30_000).optional(),
});

/** The body of `POST /v1/tasks/retry`. */
export const RetryFailed = z.strictObject({
  type: z.string().min(1).max(63).optional(),
  code: z.string().min(1).max(100).optional(),
  message: z.string().min(1).max(2000).optional(),
  since: isoDate.optional(),
});

/** The body of `PATCH /v1/queues/:type`. */
export const PatchQueue = z
  .strictObject({
    rateLimit: z
      .strictObject({
        max: z.number().int().min(1).max(1_000_000),
        durationMs: z.number().int().min(1).max(86_400_000),
      })
      .nullable()
      .optional(),
    concurrency: z.number().int().min(1).max(100_000).nullable().optional(),
  })
  .refine((b) => b.rateLimit !== undefined || b.concurrency !== undefined, {
    message: "give rateLimit, concurrency or both",
  });
