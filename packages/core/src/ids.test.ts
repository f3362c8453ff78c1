import { describe, expect, test } from "bun:test";
import { newTaskId, uuidv7Floor } from "./ids.ts";

describe("task ids", () => {
  test("are UUIDv7 and sort by creation time", async () => {
    const a = newTaskId();
    await Bun.sleep(2);
    const b = newTaskId();
    expect(a[14]).toBe("7");
    expect(a < b).toBe(true);
  });

  test("uuidv7Floor bounds ids made at or after a time, and none made before", async () => {
    const before = newTaskId();
    await Bun.sleep(2);
    const at = new Date();
    const floor = uuidv7Floor(at);
    await Bun.sleep(1);
    const after = newTaskId();
    expect(before < floor).toBe(true);
    expect(after >= floor).toBe(true);
    expect(uuidv7Floor(new Date(0))).toBe("00000000-0000-0000-0000-000000000000");
  });
});
