import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { recordRunningStack, runningStack } from "./running-stack.ts";

describe("the running stack record", () => {
  const dir = mkdtempSync(join(tmpdir(), "conveyor-stack-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const stack = {
    pid: process.pid,
    databaseUrl: "postgres://u:p@127.0.0.1:54329/postgres",
    redisUrl: "redis://x:6379",
  };

  test("a live process's record is read back, private to its owner, and removed by it", () => {
    expect(runningStack(dir)).toBeNull();
    const forget = recordRunningStack(dir, stack);
    expect(runningStack(dir)).toEqual(stack);
    expect(statSync(join(dir, "stack.json")).mode & 0o777).toBe(0o600);
    forget();
    expect(runningStack(dir)).toBeNull();
  });

  test("a record left by a process that is gone, or unreadable, is ignored", async () => {
    const gone = Bun.spawn(["true"]);
    await gone.exited;
    recordRunningStack(dir, { ...stack, pid: gone.pid });
    expect(runningStack(dir)).toBeNull();
    writeFileSync(join(dir, "stack.json"), "{not json");
    expect(runningStack(dir)).toBeNull();
  });

  test("removing leaves a newer run's record alone", () => {
    const forgetOld = recordRunningStack(dir, { ...stack, pid: process.pid });
    const newer = { ...stack, pid: process.ppid };
    recordRunningStack(dir, newer);
    forgetOld();
    expect(runningStack(dir)).toEqual(newer);
  });
});
