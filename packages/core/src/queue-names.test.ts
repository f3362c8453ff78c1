import { describe, expect, test } from "bun:test";
import { EVENTS_QUEUE, queueName, RESERVED_TYPE_NAMES, SCHEDULES_QUEUE, TASK_TYPE_NAME } from "./queue-names.ts";

/** The hash tag Redis Cluster hashes: what is between the first `{` and the next `}`. */
const hashTag = (key: string) => /\{([^}]+)\}/.exec(key)?.[1];

describe("queue names carry a Redis Cluster hash tag", () => {
  test("each task type's queue is tagged with the type itself", () => {
    for (const type of ["echo", "sleep", "http_request", "data_processing"]) {
      expect(queueName(type)).toBe(`{${type}}`);
      // BullMQ keys are `<prefix>:<queue>:<suffix>`: the tag, not the prefix, picks the slot.
      expect(hashTag(`conveyor:${queueName(type)}:wait`)).toBe(type);
    }
  });

  test("the event stream and the schedules queue have tags no task type can take", () => {
    const internal = [hashTag(EVENTS_QUEUE), hashTag(SCHEDULES_QUEUE)];
    expect(internal).toEqual(["events", "__schedules"]);
    for (const tag of internal) {
      const type = tag as string;
      expect(RESERVED_TYPE_NAMES.has(type) || !TASK_TYPE_NAME.test(type)).toBe(true);
    }
  });
});
