import type { Scope } from "@conveyor/core";
import {
  CreateSchedule,
  GetTaskQuery,
  ListTasksQuery,
  MetricsQuery,
  MetricsSeriesQuery,
  PatchQueue,
  PatchSchedule,
  RetryFailed,
  SubmitBatch,
  SubmitTask,
  SummaryQuery,
} from "@conveyor/scheduler";
import { z } from "zod";
import { AuditQuery } from "../audit/index.ts";
import { CreateKey } from "../routes/keys.ts";
import { CreateSession, SESSION_TTL_MS } from "../routes/sessions.ts";
import {
  ApiKeyList,
  AttemptList,
  AuditList,
  CreatedKey,
  FailureGroups,
  Health,
  Metrics,
  MetricsSeries,
  NodeList,
  Queue,
  QueueList,
  Readiness,
  Retried,
  ScalingSignal,
  Schedule,
  ScheduleList,
  Task,
  TaskBatch,
  TaskList,
  TaskLogList,
  TaskSummary,
  TaskTypeList,
  Whoami,
} from "./schemas.ts";

/** Who may call an operation: keys holding a scope, any valid key, or anyone. */
export type Access = Scope | "any" | "none";

/**
 * One answer: a zod schema (JSON body), a description alone, or both. An error status given as a
 * description alone gets the contract's error body, since every error answer has that shape.
 */
export type ResponseSpec = z.ZodType | string | { description: string; schema: z.ZodType };

/** One route as the OpenAPI document shows it. Adding a route to the document is one of these. */
export interface Operation {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** OpenAPI form, `/v1/tasks/{id}`; each `{name}` is a required path parameter. */
  path: string;
  operationId: string;
  tag: Tag;
  summary: string;
  description?: string;
  scope: Access;
  /** Describes path parameters; one without an entry here is a plain string. */
  params?: z.ZodObject;
  /** The query schema the route validates with. */
  query?: z.ZodObject;
  /** The JSON body schema the route validates with. */
  request?: z.ZodType;
  /** 401, 403, and 400/413/415 for routes that validate input are added from `scope` and `request`. */
  responses: Record<number, ResponseSpec>;
}

/** Groups of operations, in the order the docs show them. */
export const TAGS = [
  { name: "tasks", description: "Submit tasks and follow them" },
  { name: "task types", description: "What can be submitted" },
  {
    name: "schedules",
    description: "Recurring schedules: a task every interval or on a cron, kept in PostgreSQL; each run is a task",
  },
  { name: "queues", description: "One queue per task type: counts, pause and resume (admin)" },
  { name: "nodes", description: "Worker nodes and their liveness (admin)" },
  { name: "scaling", description: "The signal autoscalers follow: KEDA's metrics-api trigger, start:workers (admin)" },
  { name: "metrics", description: "Throughput, success rate, run and wait times over recent minutes" },
  { name: "identity", description: "Who the caller is; browser sessions" },
  { name: "keys", description: "API keys: each belongs to a tenant and holds scopes (admin)" },
  { name: "audit", description: "Who changed what (admin)" },
  { name: "health", description: "Liveness and readiness probes" },
  { name: "docs", description: "This document" },
] as const;
export type Tag = (typeof TAGS)[number]["name"];

const TaskId = z.object({
  id: z.string().describe("The task's id; a malformed id and another tenant's task both answer 404"),
});

const NO_TASK = "not_found: no such task in the caller's tenant";

const ScheduleId = z.object({
  id: z.string().describe("The schedule's id; a malformed id and another tenant's schedule both answer 404"),
});

const NO_SCHEDULE = "not_found: no such schedule in the caller's tenant";

const SCHEDULE_400 =
  "validation_failed: the body does not match its schema, neither or both of `cron` and `everyMs`, a cron that is " +
  "not 5 fields (or 6 with seconds first) or never fires (detail code `invalid_cron`), an unknown time zone " +
  "(`invalid_timezone`), `everyMs` under 1000, or a task its type refuses (an unknown type: detail code " +
  "`unknown_task_type`)";

const KeyId = z.object({ id: z.string().describe("The key's id (from `POST /v1/keys` or `GET /v1/keys`)") });

/** Every documented route. Describe a new route by adding an entry. */
export const OPERATIONS: readonly Operation[] = [
  {
    method: "post",
    path: "/v1/tasks",
    operationId: "submitTask",
    tag: "tasks",
    summary: "Submit a task",
    description:
      "`payload` must match the type's `payloadSchema` (GET /v1/task-types); fields left out take the type's " +
      "defaults. Resubmitting with the same `idempotencyKey` is safe.",
    scope: "tasks:write",
    request: SubmitTask,
    responses: {
      202: { description: "Accepted: the new task, `queued` or `delayed`", schema: Task },
      200: {
        description:
          "A replay: the same `idempotencyKey` with the same body (compared after defaults, key order ignored) " +
          "answers the first task",
        schema: Task,
      },
      404: "unknown_task_type: `type` is not a registered task type",
      409: "conflict: the `idempotencyKey` was used in this tenant with a different body",
      429: "rate_limited: the key's submission rate limit is spent; `Retry-After` says when to try again",
      503:
        "unavailable: PostgreSQL did not answer. A commit whose answer was lost looks the same: resubmit with " +
        "the same `idempotencyKey` to be safe",
    },
  },
  {
    method: "get",
    path: "/v1/tasks/{id}",
    operationId: "getTask",
    tag: "tasks",
    summary: "Read a task",
    description: "With `waitMs`, the answer is held until the task is final or the time is up.",
    scope: "tasks:read",
    params: TaskId,
    query: GetTaskQuery,
    responses: { 200: Task, 404: NO_TASK },
  },
  {
    method: "get",
    path: "/v1/tasks/{id}/attempts",
    operationId: "listAttempts",
    tag: "tasks",
    summary: "List a task's attempts",
    scope: "tasks:read",
    params: TaskId,
    responses: { 200: AttemptList, 404: NO_TASK },
  },
  {
    method: "post",
    path: "/v1/tasks/batch",
    operationId: "submitBatch",
    tag: "tasks",
    summary: "Submit 1 to 1000 tasks, all or nothing",
    description:
      "Every item is checked first; any bad item answers 400 with a detail per bad item (paths start " +
      '`["tasks", i]`, an unknown type has detail code `unknown_task_type`) and nothing is accepted.',
    scope: "tasks:write",
    request: SubmitBatch,
    responses: {
      202: TaskBatch,
      409: "conflict: an item's `idempotencyKey` was used with a different body",
      429:
        "rate_limited: the batch costs one per task and the key's window has less left (nothing is spent); " +
        "`Retry-After` says when it will fit",
    },
  },
  {
    method: "get",
    path: "/v1/tasks",
    operationId: "listTasks",
    tag: "tasks",
    summary: "List tasks, newest first",
    description: "`q` finds text in the id, payload or error. Follow `nextCursor` for the next page.",
    scope: "tasks:read",
    query: ListTasksQuery,
    responses: { 200: TaskList },
  },
  {
    method: "get",
    path: "/v1/tasks/summary",
    operationId: "summarizeTasks",
    tag: "tasks",
    summary: "Count tasks per status, in the ledger",
    scope: "tasks:read",
    query: SummaryQuery,
    responses: { 200: TaskSummary },
  },
  {
    method: "get",
    path: "/v1/tasks/{id}/logs",
    operationId: "listTaskLogs",
    tag: "tasks",
    summary: "What the task's handlers logged",
    description: "At most 500 lines per attempt are kept; a last line says when more were dropped.",
    scope: "tasks:read",
    params: TaskId,
    responses: { 200: TaskLogList, 404: NO_TASK },
  },
  {
    method: "get",
    path: "/v1/tasks/failures",
    operationId: "listFailureGroups",
    tag: "tasks",
    summary: "Failed tasks grouped by cause (type, error code and message), largest first",
    description: "Retry a whole group with `POST /v1/tasks/retry` and the group's `type`, `code` and `message`.",
    scope: "tasks:read",
    query: SummaryQuery,
    responses: { 200: FailureGroups },
  },
  {
    method: "post",
    path: "/v1/tasks/{id}/cancel",
    operationId: "cancelTask",
    tag: "tasks",
    summary: "Cancel a task",
    description:
      "A waiting task is removed; a running one is aborted on whatever node runs it and its attempt closes as " +
      "`cancelled` within a second. Cancelling a cancelled task answers 200.",
    scope: "tasks:write",
    params: TaskId,
    responses: { 200: Task, 404: NO_TASK, 409: "conflict: the task already completed or failed" },
  },
  {
    method: "post",
    path: "/v1/tasks/{id}/retry",
    operationId: "retryTask",
    tag: "tasks",
    summary: "Queue a failed or cancelled task again",
    description: "Its attempts so far stay in its history.",
    scope: "tasks:write",
    params: TaskId,
    responses: { 202: Task, 404: NO_TASK, 409: "conflict: the task is not failed or cancelled" },
  },
  {
    method: "post",
    path: "/v1/tasks/retry",
    operationId: "retryFailedTasks",
    tag: "tasks",
    summary: "Queue again every failed task of the tenant that matches",
    scope: "tasks:write",
    request: RetryFailed,
    responses: { 202: Retried },
  },
  {
    method: "post",
    path: "/v1/schedules",
    operationId: "createSchedule",
    tag: "schedules",
    summary: "Make a recurring schedule",
    description:
      "Exactly one of `cron` (5 fields, or 6 with seconds first, read in `timezone`, default UTC) and `everyMs` " +
      "(>= 1000; the first run comes one interval after creation). However many worker nodes run, each tick " +
      "makes one task, with `scheduleId` set (list them with `GET /v1/tasks?scheduleId=`).",
    scope: "tasks:write",
    request: CreateSchedule,
    responses: { 201: Schedule, 400: SCHEDULE_400 },
  },
  {
    method: "get",
    path: "/v1/schedules",
    operationId: "listSchedules",
    tag: "schedules",
    summary: "List the tenant's schedules (admin: every tenant's), with their next and last runs",
    scope: "tasks:read",
    responses: { 200: ScheduleList },
  },
  {
    method: "get",
    path: "/v1/schedules/{id}",
    operationId: "getSchedule",
    tag: "schedules",
    summary: "Read a schedule",
    scope: "tasks:read",
    params: ScheduleId,
    responses: { 200: Schedule, 404: NO_SCHEDULE },
  },
  {
    method: "patch",
    path: "/v1/schedules/{id}",
    operationId: "updateSchedule",
    tag: "schedules",
    summary: "Change a schedule",
    description:
      "A field left out keeps its value. Setting `cron` drops `everyMs` and the other way round, so one call " +
      "switches between them; a new interval starts counting from now. `task` is replaced whole.",
    scope: "tasks:write",
    params: ScheduleId,
    request: PatchSchedule,
    responses: { 200: Schedule, 400: SCHEDULE_400, 404: NO_SCHEDULE },
  },
  {
    method: "delete",
    path: "/v1/schedules/{id}",
    operationId: "deleteSchedule",
    tag: "schedules",
    summary: "Delete a schedule; the tasks it made stay",
    scope: "tasks:write",
    params: ScheduleId,
    responses: { 204: "Deleted", 404: NO_SCHEDULE },
  },
  {
    method: "post",
    path: "/v1/schedules/{id}/pause",
    operationId: "pauseSchedule",
    tag: "schedules",
    summary: "Pause a schedule: no ticks, `nextRunAt` null",
    scope: "tasks:write",
    params: ScheduleId,
    responses: { 200: Schedule, 404: NO_SCHEDULE },
  },
  {
    method: "post",
    path: "/v1/schedules/{id}/resume",
    operationId: "resumeSchedule",
    tag: "schedules",
    summary: "Resume a paused schedule",
    description: "An interval schedule keeps its phase: it ticks on the same instants as before the pause.",
    scope: "tasks:write",
    params: ScheduleId,
    responses: { 200: Schedule, 404: NO_SCHEDULE },
  },
  {
    method: "post",
    path: "/v1/schedules/{id}/trigger",
    operationId: "triggerSchedule",
    tag: "schedules",
    summary: "Run a schedule once now",
    description:
      "A run like a tick's (it sets `lastRunAt` and `lastTaskId`), paused or not; the ticks stay as they were.",
    scope: "tasks:write",
    params: ScheduleId,
    responses: { 202: { description: "The run's task", schema: Task }, 404: NO_SCHEDULE },
  },
  {
    method: "get",
    path: "/v1/queues",
    operationId: "listQueues",
    tag: "queues",
    summary: "Every task type's queue: counts, pause state and limits",
    scope: "admin",
    responses: { 200: QueueList },
  },
  {
    method: "post",
    path: "/v1/queues/{type}/pause",
    operationId: "pauseQueue",
    tag: "queues",
    summary: "Pause a queue on every node (kept in PostgreSQL)",
    scope: "admin",
    responses: { 200: Queue, 404: "not_found: no such task type" },
  },
  {
    method: "post",
    path: "/v1/queues/{type}/resume",
    operationId: "resumeQueue",
    tag: "queues",
    summary: "Resume a paused queue",
    scope: "admin",
    responses: { 200: Queue, 404: "not_found: no such task type" },
  },
  {
    method: "patch",
    path: "/v1/queues/{type}",
    operationId: "setQueueLimits",
    tag: "queues",
    summary: "Change a queue's cluster-wide rate limit and concurrency",
    description:
      "Applies to every node at once; kept in PostgreSQL and re-applied at start and by the reconciler. " +
      "A field left out keeps its value; null removes the limit.",
    scope: "admin",
    request: PatchQueue,
    responses: { 200: Queue, 404: "not_found: no such task type" },
  },
  {
    method: "get",
    path: "/v1/nodes",
    operationId: "listNodes",
    tag: "nodes",
    summary: "Worker nodes: up, or lost when silent for 15 s (listed for an hour); a clean stop leaves the list",
    scope: "admin",
    responses: { 200: NodeList },
  },
  {
    method: "get",
    path: "/v1/scaling",
    operationId: "getScaling",
    tag: "scaling",
    summary: "Backlog, arrival and completion rates, and how many worker nodes would drain the backlog in time",
    description:
      "For KEDA's metrics-api trigger (`valueLocation: desiredNodes`) and `bun run start:workers`. Rates cover " +
      "the previous whole minute and the current one; the per-node rate divides completions by the seconds " +
      "nodes were up in that window. Paused queues are left out.",
    scope: "admin",
    responses: { 200: ScalingSignal, 503: "unavailable: PostgreSQL did not answer" },
  },
  {
    method: "get",
    path: "/v1/metrics",
    operationId: "getMetrics",
    tag: "metrics",
    summary: "Task metrics over the whole minutes of a window, overall and per type",
    description:
      "The window's last minute is the current one. Quantiles merge per-minute sketches, so they hold over " +
      "any window. A tenant key sees its own tenant; admin sees all.",
    scope: "tasks:read",
    query: MetricsQuery,
    responses: { 200: Metrics },
  },
  {
    method: "get",
    path: "/v1/metrics/series",
    operationId: "getMetricsSeries",
    tag: "metrics",
    summary: "Task metrics per step over a window, for charts",
    scope: "tasks:read",
    query: MetricsSeriesQuery,
    responses: { 200: MetricsSeries },
  },
  {
    method: "get",
    path: "/v1/task-types",
    operationId: "listTaskTypes",
    tag: "task types",
    summary: "List the task types, with the JSON Schema of their payloads and their defaults",
    scope: "tasks:read",
    responses: { 200: TaskTypeList },
  },
  {
    method: "get",
    path: "/v1/whoami",
    operationId: "whoami",
    tag: "identity",
    summary: "The caller's tenant, key name and scopes",
    scope: "any",
    responses: { 200: Whoami },
  },
  {
    method: "get",
    path: "/v1/audit",
    operationId: "listAuditEntries",
    tag: "audit",
    summary: "The audit trail, newest first: every change except task submission",
    description:
      "Cancels, retries, queue pauses and limits, keys made and revoked, sessions: who (key and tenant), what, " +
      "on what. Follow `nextCursor` for the next page.",
    scope: "admin",
    query: AuditQuery,
    responses: { 200: AuditList },
  },
  {
    method: "post",
    path: "/v1/keys",
    operationId: "createKey",
    tag: "keys",
    summary: "Make an API key for a tenant; its secret is answered this once",
    description: "Only a SHA-256 hash of the secret is stored: a lost key cannot be shown again, only replaced.",
    scope: "admin",
    request: CreateKey,
    responses: { 201: CreatedKey },
  },
  {
    method: "get",
    path: "/v1/keys",
    operationId: "listKeys",
    tag: "keys",
    summary: "List the API keys, revoked ones too, without their secrets",
    scope: "admin",
    responses: { 200: ApiKeyList },
  },
  {
    method: "delete",
    path: "/v1/keys/{id}",
    operationId: "revokeKey",
    tag: "keys",
    summary: "Revoke an API key and every session made with it",
    description: "Every API process refuses the key and its sessions (401) within 5 s.",
    scope: "admin",
    params: KeyId,
    responses: { 204: "Revoked (or already revoked)", 404: "not_found: no such key" },
  },
  {
    method: "post",
    path: "/v1/sessions",
    operationId: "createSession",
    tag: "identity",
    summary: "Log in with an API key: answers a session cookie",
    description:
      `Sets \`conveyor_session\` (HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS), valid for ` +
      `${SESSION_TTL_MS / 3_600_000} h, or until its key is revoked or the session ends. The cookie then ` +
      "authenticates like the key's bearer header.",
    scope: "none",
    request: CreateSession,
    responses: {
      204: "Logged in: the `Set-Cookie` header holds the session",
      401: "unauthorized: the API key is not valid",
    },
  },
  {
    method: "delete",
    path: "/v1/sessions/current",
    operationId: "deleteSession",
    tag: "identity",
    summary: "Log out: end the session of the `conveyor_session` cookie and clear it",
    scope: "any",
    responses: { 204: "Logged out; the cookie is cleared" },
  },
  {
    method: "get",
    path: "/healthz",
    operationId: "healthz",
    tag: "health",
    summary: "Liveness: the process answers",
    scope: "none",
    responses: { 200: Health },
  },
  {
    method: "get",
    path: "/readyz",
    operationId: "readyz",
    tag: "health",
    summary: "Readiness: PostgreSQL and Redis answer too",
    scope: "none",
    responses: {
      200: { description: "Ready", schema: Readiness },
      503: { description: "A dependency does not answer", schema: Readiness },
    },
  },
  {
    method: "get",
    path: "/metrics",
    operationId: "metrics",
    tag: "health",
    summary: "Prometheus metrics: HTTP traffic, queue depths per task type, worker nodes by status",
    description:
      "Prometheus text format 0.0.4. Per-type series carry the label `type`; HTTP series carry the matched " +
      "route pattern (`/v1/tasks/:id`), never the raw path. Queue and node gauges are read at scrape time and " +
      "left out when Redis or PostgreSQL does not answer within 2 s. Each worker node serves its own task " +
      "metrics on `WORKER_PORT`. Off with `METRICS_ENABLED=false` (then 404).",
    scope: "none",
    responses: { 200: "The metrics, as `text/plain; version=0.0.4`", 404: "not_found: metrics are turned off" },
  },
  {
    method: "get",
    path: "/openapi.json",
    operationId: "openApiDocument",
    tag: "docs",
    summary: "This OpenAPI 3.1 document",
    scope: "none",
    responses: { 200: "The document, as JSON" },
  },
  {
    method: "get",
    path: "/docs",
    operationId: "docs",
    tag: "docs",
    summary: "This document, rendered as HTML",
    scope: "none",
    responses: { 200: "An HTML page" },
  },
];
