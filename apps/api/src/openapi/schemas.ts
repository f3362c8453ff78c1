import { ATTEMPT_OUTCOMES, PRIORITIES, SCOPES, TASK_ERROR_CODES, TASK_STATUSES } from "@conveyor/core";
import {
  type Attempt as AttemptView,
  Backoff,
  type MetricsReport,
  ScheduleTask,
  type Schedule as ScheduleView,
  SubmitTask,
  type Task as TaskView,
} from "@conveyor/scheduler";
import { z } from "zod";

// The shapes the API answers with, as the contract writes them. They document answers and are
// never used to parse one, so they carry no transforms or defaults: the document is generated in
// `input` mode, which keeps objects open (an answer may gain a field without breaking clients).

const dateTime = z.iso.datetime().describe("ISO 8601 time (UTC)");

/** A task's or an attempt's error. */
export const TaskError = z
  .object({
    code: z.string().describe(`Why it failed; codes include ${TASK_ERROR_CODES.join(", ")}`),
    message: z.string(),
  })
  .describe("What went wrong");

/** CONTRACT.md, "Task". */
export const Task = z.object({
  id: z.uuid().describe("A UUIDv7 made by Conveyor"),
  tenant: z.string(),
  type: z.string().describe("The task type, one of GET /v1/task-types"),
  status: z.enum(TASK_STATUSES).describe("A task waiting out a retry backoff is `delayed`, with its last error"),
  priority: z.enum(PRIORITIES),
  payload: z.unknown().describe("As submitted"),
  result: z.unknown().describe("What the handler returned; null until the task completes"),
  error: TaskError.nullable(),
  progress: z.number().min(0).max(100).nullable().describe("Null until the handler first reports; 100 once completed"),
  attempts: z.number().int().min(0).describe("Attempts started so far"),
  maxAttempts: z.number().int().min(1),
  timeoutMs: z.number().int().min(1),
  idempotencyKey: z.string().nullable(),
  scheduleId: z.string().nullable().describe("The schedule that made this task, if one did"),
  runAt: dateTime.nullable().describe("When a delayed task is due"),
  createdAt: dateTime,
  startedAt: dateTime.nullable(),
  finishedAt: dateTime.nullable(),
  node: z.string().nullable().describe("The worker node running it, or that ran it last"),
});

/** CONTRACT.md, "Attempt". */
export const Attempt = z.object({
  n: z.number().int().min(1),
  node: z.string(),
  startedAt: dateTime,
  finishedAt: dateTime.nullable(),
  outcome: z
    .enum(ATTEMPT_OUTCOMES)
    .describe("`stalled` (its node died) and `interrupted` (handed back by a draining node) do not count"),
  error: TaskError.nullable(),
  durationMs: z.number().int().min(0).nullable(),
});

export const AttemptList = z.object({ attempts: z.array(Attempt) });

/** Every error answer: `{error: {code, message, details}}` with a matching status. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.enum([
      "validation_failed",
      "unauthorized",
      "forbidden",
      "not_found",
      "unknown_task_type",
      "conflict",
      "payload_too_large",
      "unsupported_media_type",
      "rate_limited",
      "unavailable",
    ]),
    message: z.string(),
    details: z
      .array(
        z.object({
          path: z
            .array(z.union([z.string(), z.number().int()]))
            .describe('Where in the request, e.g. ["payload", "ms"]'),
          code: z.string(),
          message: z.string(),
        }),
      )
      .describe("One entry per problem; may be empty"),
  }),
});

export const Whoami = z.object({ tenant: z.string(), name: z.string(), scopes: z.array(z.enum(SCOPES)) });

const KeyRateLimit = z
  .object({ max: z.number().int(), durationMs: z.number().int() })
  .nullable()
  .describe("At most `max` tasks submitted per sliding `durationMs`; null: no limit");

/** `POST /v1/keys`: the new key, with its secret shown this once. */
export const CreatedKey = z.object({
  id: z.uuid(),
  key: z.string().describe("The secret (`cvk_...`): shown only in this answer, stored only as a hash"),
  tenant: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  rateLimit: KeyRateLimit,
});

/** A key as `GET /v1/keys` lists it: never its secret or its hash. */
export const ApiKey = z.object({
  id: z.uuid(),
  tenant: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  rateLimit: KeyRateLimit,
  createdAt: dateTime,
  revokedAt: dateTime.nullable().describe("Set once revoked; it and its sessions are refused from then on"),
  lastUsedAt: dateTime.nullable().describe("Updated at most once a minute"),
});

export const ApiKeyList = z.object({ keys: z.array(ApiKey) });

/** One entry of `GET /v1/task-types`. */
export const TaskTypeInfo = z.object({
  type: z.string(),
  description: z.string(),
  payloadSchema: z
    .record(z.string(), z.unknown())
    .describe("JSON Schema (draft 2020-12) of the payload a submission must send"),
  defaults: z
    .object({
      timeoutMs: z.number().int().min(1),
      maxAttempts: z.number().int().min(1),
      backoff: Backoff,
      priority: z.enum(PRIORITIES),
      concurrency: z
        .object({ min: z.number().int().min(1), max: z.number().int().min(1) })
        .describe("Local concurrency per worker node; its autoscaler moves between these"),
    })
    .describe("What a task of this type gets unless the submission says otherwise (all but concurrency)"),
});
export type TaskTypeInfo = z.infer<typeof TaskTypeInfo>;

export const TaskTypeList = z.object({ taskTypes: z.array(TaskTypeInfo) });
export type TaskTypeList = z.infer<typeof TaskTypeList>;

export const Health = z.object({ status: z.literal("ok") });

export const Readiness = z.object({
  status: z.enum(["ready", "unavailable"]),
  checks: z.record(z.string(), z.enum(["ok", "unavailable"])).describe("Each dependency: postgres, redis"),
});

export const TaskList = z.object({
  tasks: z.array(Task),
  nextCursor: z.string().nullable().describe("Pass as `cursor` for the next page; null on the last"),
});

export const TaskBatch = z.object({ tasks: z.array(Task) });

export const TaskLogList = z.object({
  logs: z.array(
    z.object({
      at: dateTime,
      level: z.enum(["info", "warn", "error"]),
      message: z.string(),
      attempt: z.number().int().describe("The attempt that logged it"),
    }),
  ),
});

export const TaskSummary = z.object({
  queued: z.number().int(),
  delayed: z.number().int(),
  running: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
});

export const FailureGroups = z.object({
  groups: z.array(
    z.object({
      type: z.string(),
      code: z.string().describe("The error code; `unknown` when a failed task has none"),
      message: z.string(),
      count: z.number().int(),
      lastAt: dateTime,
      sampleTaskId: z.string().describe("The group's most recent task"),
    }),
  ),
});

export const Retried = z.object({ retried: z.number().int().describe("How many failed tasks were queued again") });

export const Queue = z.object({
  type: z.string(),
  waiting: z.number().int().describe("Jobs waiting to start, prioritized ones included"),
  delayed: z.number().int(),
  active: z.number().int(),
  failed: z.number().int(),
  paused: z.boolean(),
  rateLimit: z.object({ max: z.number().int(), durationMs: z.number().int() }).nullable(),
  concurrency: z.number().int().nullable().describe("The cluster-wide limit, or null"),
});

export const QueueList = z.object({ queues: z.array(Queue) });

export const WorkerNode = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  version: z.string(),
  startedAt: dateTime,
  lastSeenAt: dateTime,
  status: z.enum(["up", "lost"]).describe("lost: silent for 15 s; listed for an hour"),
  types: z.array(z.string()),
  concurrency: z.record(z.string(), z.number().int()),
  active: z.number().int(),
  rssBytes: z.number(),
  eventLoopLagMs: z.number(),
});

export const NodeList = z.object({ nodes: z.array(WorkerNode) });

/** `GET /v1/scaling`: what an autoscaler follows (KEDA metrics-api reads `desiredNodes`). */
export const ScalingSignal = z.object({
  backlog: z.number().int().describe("Tasks waiting to start (queued, or delayed and due) in queues not paused"),
  arrivalPerSec: z.number().describe("Tasks submitted per second, over the previous whole minute and the current one"),
  completionPerSec: z.number().describe("Tasks that ended (completed or failed) per second, over the same window"),
  drainSeconds: z.number().nullable().describe("backlog / completionPerSec; null while nothing has completed"),
  activeNodes: z.number().int().describe("Worker nodes up (heard from within 15 s)"),
  desiredNodes: z
    .number()
    .int()
    .describe(
      "Nodes that would drain the backlog within SCALING_TARGET_DRAIN_S at the measured per-node rate; at least 1, " +
        "and no more than activeNodes when the backlog is empty",
    ),
});

const ms = z.number().nullable();

/** Durations in ms over a window; all null when nothing was measured. Quantiles are within 1% (DDSketch). */
export const TimeSummary = z.object({ avg: ms, min: ms, max: ms, p50: ms, p95: ms, p99: ms });

const MetricsFigures = z.object({
  throughputPerSec: z.number().describe("Tasks that reached completed or failed, per second of the window"),
  completed: z.number().int().describe("Tasks that completed in the window"),
  failed: z.number().int().describe("Tasks that failed for good in the window (a retried attempt is not one)"),
  successRate: z.number().nullable().describe("completed / (completed + failed); null when both are 0"),
  runTimeMs: TimeSummary.describe("Attempt start to end, of attempts that ended in the window (any outcome)"),
  waitTimeMs: TimeSummary.describe("Due (or submitted) to attempt start, of attempts that started in the window"),
  pending: z.number().int().describe("Now: tasks queued, or delayed and due, in the ledger"),
  running: z.number().int().describe("Now: running tasks in the ledger"),
  activeNodes: z.number().int().describe("Now: worker nodes up (serving the type, under byType)"),
});

export const Metrics = MetricsFigures.extend({
  window: z.enum(["1m", "5m", "15m", "1h", "24h"]),
  byType: z.record(z.string(), MetricsFigures).describe("The same figures per task type"),
});

export const MetricsSeries = z.object({
  points: z
    .array(
      z.object({
        at: dateTime.describe("Start of the step"),
        completed: z.number().int(),
        failed: z.number().int(),
        runTimeMs: TimeSummary,
        waitTimeMs: TimeSummary,
      }),
    )
    .describe("One per step, oldest first; the last holds the current minute; empty steps have zeros and nulls"),
});

/** CONTRACT.md, "Schedule". */
export const Schedule = z.object({
  id: z.uuid(),
  name: z.string(),
  cron: z.string().nullable().describe("5 fields, or 6 with seconds first; null when `everyMs` is set"),
  everyMs: z.number().int().min(1000).nullable().describe("The interval; null when `cron` is set"),
  timezone: z.string().describe("The IANA time zone `cron` is read in (UTC unless given)"),
  task: ScheduleTask.describe("What each run submits; fields left out take the type's defaults at each run"),
  paused: z.boolean(),
  nextRunAt: dateTime.nullable().describe("The next tick; null while paused"),
  lastRunAt: dateTime.nullable().describe("The tick (or trigger) time of the latest run; null before the first"),
  lastTaskId: z.uuid().nullable().describe("The task of the latest run"),
  createdAt: dateTime,
});

export const ScheduleList = z.object({ schedules: z.array(Schedule).describe("Oldest first") });

/** One entry of `GET /v1/audit`: a change, who made it, and on what. */
export const AuditEntry = z.object({
  at: dateTime,
  keyId: z.uuid().nullable().describe("The key that made the change; null for the bootstrap admin key"),
  tenant: z.string().describe("The tenant of that key"),
  action: z
    .string()
    .describe("What was done: `task.cancel`, `task.retry`, `tasks.retry`, `queue.pause`, `key.create`..."),
  target: z.string().nullable().describe("What it was done to (a task id, a task type, a key id), when one thing"),
});

export const AuditList = z.object({
  entries: z.array(AuditEntry).describe("Newest first"),
  nextCursor: z.string().nullable().describe("Pass as `cursor` for the next page; null on the last"),
});

/**
 * Schemas shown under their own name in `components.schemas` (what client generators name
 * their types after). A route's schema that is not listed here is named after its operation.
 */
export const NAMED_SCHEMAS: Record<string, z.ZodType> = {
  SubmitTask,
  Backoff,
  Task,
  Attempt,
  AttemptList,
  TaskError,
  ErrorBody,
  Whoami,
  CreatedKey,
  ApiKey,
  ApiKeyList,
  TaskTypeInfo,
  TaskTypeList,
  Health,
  Readiness,
  TaskList,
  TaskBatch,
  TaskLogList,
  TaskSummary,
  FailureGroups,
  Queue,
  QueueList,
  WorkerNode,
  NodeList,
  ScalingSignal,
  AuditEntry,
  AuditList,
  Schedule,
  ScheduleList,
  ScheduleTask,
  TimeSummary,
  Metrics,
  MetricsSeries,
};

// Compile-time guard: the documented Task and Attempt have exactly the fields the scheduler's
// view returns, so neither can gain or lose a field without the other.
type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never] ? true : false;
type Assert<T extends true> = T;
type _TaskFieldsMatch = Assert<SameKeys<z.infer<typeof Task>, TaskView>>;
type _AttemptFieldsMatch = Assert<SameKeys<z.infer<typeof Attempt>, AttemptView>>;
type _MetricsFieldsMatch = Assert<SameKeys<z.infer<typeof Metrics>, MetricsReport>>;
type _ScheduleFieldsMatch = Assert<SameKeys<z.infer<typeof Schedule>, ScheduleView>>;
