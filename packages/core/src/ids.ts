/** A new task id: a UUIDv7, so ids sort by creation time. */
export function newTaskId(): string {
  return Bun.randomUUIDv7();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `s` has the shape of a UUID (any version). */
export function isUuid(s: string): boolean {
  return UUID.test(s);
}

/**
 * The smallest UUID whose UUIDv7 timestamp is `at` (or later). Task ids are UUIDv7, so a
 * time range over creation is an id range, and the primary key index serves it.
 */
export function uuidv7Floor(at: Date): string {
  const ms = Math.max(0, Math.min(at.getTime(), 2 ** 48 - 1));
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}
