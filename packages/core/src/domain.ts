/** Task priorities, highest first; BullMQ priority = index + 1 (lower number runs first). */
export const PRIORITIES = ["critical", "high", "normal", "low"] as const;
export type Priority = (typeof PRIORITIES)[number];

/** BullMQ's numeric priority for one of ours. */
export function bullPriority(p: Priority): number {
  return PRIORITIES.indexOf(p) + 1;
}

export const TASK_STATUSES = ["queued", "delayed", "running", "completed", "failed", "cancelled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** A task in one of these statuses never changes again (unless retried by hand). */
export const FINAL_STATUSES = ["completed", "failed", "cancelled"] as const satisfies readonly TaskStatus[];
export type FinalStatus = (typeof FINAL_STATUSES)[number];

export function isFinal(status: TaskStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

export const ATTEMPT_OUTCOMES = [
  "running",
  "completed",
  "failed",
  "timed_out",
  "cancelled",
  "stalled",
  "interrupted",
] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** Error codes a task's `error.code` can carry. */
export const TASK_ERROR_CODES = [
  "timed_out",
  "cancelled",
  "handler_error",
  "invalid_payload",
  "invalid_result",
  "forbidden_destination",
  "stalled",
  "unexpected_status",
  "invalid_source",
] as const;

export interface TaskError {
  code: string;
  message: string;
}

export const SCOPES = ["tasks:read", "tasks:write", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling: resolved from a key or a session. */
export interface Principal {
  tenant: string;
  name: string;
  scopes: Scope[];
  keyId: string | null;
  /** The key's submission limit (a sliding window over tasks submitted); absent or null: unlimited. */
  rateLimit?: { max: number; durationMs: number } | null;
}

export const DEFAULT_TENANT = "default";
