import { type ErrorDetail, newTaskId } from "@conveyor/core";
import type { NewTaskRow, ScheduleTaskTemplate } from "@conveyor/db";
import type { TaskCatalog } from "@conveyor/handlers";
import { SubmitTask } from "../input.ts";
import { issueDetails, unstorable } from "../scheduler.ts";

/** The task a schedule submits on each run: a submission without timing or idempotency. */
export const ScheduleTask = SubmitTask.pick({
  type: true,
  payload: true,
  priority: true,
  timeoutMs: true,
  maxAttempts: true,
});

/**
 * What is wrong with a schedule's task, as details under `["task", ...]` (empty when nothing):
 * an unknown type (detail code `unknown_task_type`), a payload its type refuses, or a string
 * PostgreSQL cannot store.
 */
export function templateDetails(catalog: TaskCatalog, task: ScheduleTaskTemplate): ErrorDetail[] {
  if (!catalog.has(task.type)) {
    return [{ path: ["task", "type"], code: "unknown_task_type", message: `unknown task type '${task.type}'` }];
  }
  const parsed = catalog.get(task.type).schema.safeParse(task.payload);
  if (!parsed.success) return issueDetails(parsed.error.issues, ["task", "payload"]);
  const bad = unstorable(task.payload, ["task", "payload"]) ?? unstorable(task.type, ["task", "type"]);
  if (bad) {
    return [{ path: bad, code: "invalid_string", message: "strings may not contain U+0000 or an unpaired surrogate" }];
  }
  return [];
}

/**
 * The task row of one run: the template with its type's defaults, queued now. `scheduledFor` is
 * the tick it is the run of (null for a triggered run); throws UnknownTaskTypeError when the
 * type left the catalog.
 */
export function runRow(
  catalog: TaskCatalog,
  run: { tenant: string; scheduleId: string; task: ScheduleTaskTemplate; scheduledFor: Date | null; now: Date },
): NewTaskRow & { scheduleId: string } {
  const d = catalog.get(run.task.type).defaults;
  const id = newTaskId();
  return {
    id,
    tenant: run.tenant,
    type: run.task.type,
    status: "queued",
    priority: run.task.priority ?? d.priority,
    payload: run.task.payload ?? null,
    maxAttempts: run.task.maxAttempts ?? d.maxAttempts,
    timeoutMs: run.task.timeoutMs ?? d.timeoutMs,
    backoff: d.backoff,
    idempotencyKey: null,
    requestHash: null,
    scheduleId: run.scheduleId,
    scheduledFor: run.scheduledFor,
    runAt: null,
    dueAt: run.now,
    jobId: id,
    createdAt: run.now,
  };
}
