/**
 * Queue naming. Each task type's queue carries a Redis Cluster hash tag (`{echo}`) so all of
 * one queue's keys share a slot (BullMQ's Lua scripts need that) while different types spread.
 */
export const EVENTS_QUEUE = "{events}";
export const SCHEDULES_QUEUE = "{__schedules}";

/** Names that can never be task types because the system uses them. */
export const RESERVED_TYPE_NAMES = new Set(["events", "__schedules"]);

export const TASK_TYPE_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** The BullMQ queue name of a task type. */
export function queueName(type: string): string {
  return `{${type}}`;
}
