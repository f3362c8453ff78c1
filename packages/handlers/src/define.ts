import type { Priority } from "@conveyor/core";
import type { z } from "zod";

/** What a running handler gets from the worker. */
export interface TaskContext {
  /** Aborts on timeout, cancellation or shutdown: stop promptly when it does. */
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  taskId: string;
  /** Reports progress, 0-100. */
  progress(percent: number): void;
  /** Adds a line to the task's log (kept, bounded, per task). */
  log(message: string, level?: "info" | "warn" | "error"): void;
}

/** Defaults a task type gives its tasks; a submission may override the first four. */
export interface TaskTypeDefaults {
  timeoutMs: number;
  maxAttempts: number;
  backoff: { strategy: "exponential" | "fixed"; delayMs: number; jitter?: number };
  priority: Priority;
  /** Local concurrency per node: the autoscaler moves between these. */
  concurrency: { min: number; max: number };
}

export interface TaskType<S extends z.ZodType = z.ZodType, R = unknown> {
  type: string;
  description: string;
  schema: S;
  defaults: TaskTypeDefaults;
  run(payload: z.output<S>, ctx: TaskContext): Promise<R>;
}

const BASE_DEFAULTS: TaskTypeDefaults = {
  timeoutMs: 30_000,
  maxAttempts: 3,
  backoff: { strategy: "exponential", delayMs: 1000 },
  priority: "normal",
  concurrency: { min: 1, max: 10 },
};

/** Declares a task type: its payload schema, what it does, and its defaults. */
export function defineTaskType<S extends z.ZodType, R>(def: {
  type: string;
  description: string;
  schema: S;
  defaults?: Partial<TaskTypeDefaults>;
  run(payload: z.output<S>, ctx: TaskContext): Promise<R>;
}): TaskType<S, R> {
  return { ...def, defaults: { ...BASE_DEFAULTS, ...def.defaults } };
}
