import type { TaskStatus } from "./domain.ts";

/** What every task state change publishes on the event stream (`<prefix>:{events}:events`). */
export interface TaskEvent {
  id: string;
  tenant: string;
  type: string;
  status: TaskStatus;
  progress: number | null;
  attempt: number;
  node: string | null;
  at: string;
}

/** The custom event name on the stream (not `completed`: QueueEvents would parse it as a job's return value). */
export const TASK_EVENT_NAME = "task";
