/** A new task id: a UUIDv7, so ids sort by creation time. */
export function newTaskId(): string {
  return Bun.randomUUIDv7();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `s` has the shape of a UUID (any version). */
export function isUuid(s: string): boolean {
  return UUID.test(s);
}
