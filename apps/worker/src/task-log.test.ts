import { describe, expect, test } from "bun:test";
import { createLogger } from "@conveyor/core";
import type { Ledger } from "@conveyor/db";
import { MAX_LINES_PER_ATTEMPT, TaskLog } from "./task-log.ts";

type Line = Parameters<Ledger["appendLogs"]>[0][number];

/** Records what would be written; the real statement is covered by tests/lifecycle/logs.test.ts. */
function recorder() {
  const written: Line[][] = [];
  const ledger = { appendLogs: async (lines: Line[]) => void written.push(lines) } as unknown as Ledger;
  return { written, log: new TaskLog(ledger, createLogger("test", "silent"), 10_000) };
}

describe("TaskLog", () => {
  test("keeps at most its share of lines per attempt, then one line that says so", async () => {
    const { written, log } = recorder();
    for (let i = 0; i < MAX_LINES_PER_ATTEMPT + 50; i++) log.write("t1", 1, `line ${i}`);
    log.write("t1", 2, "the next attempt has its own share");
    await log.flush();
    const lines = written.flat();
    const first = lines.filter((l) => l.attempt === 1);
    expect(first).toHaveLength(MAX_LINES_PER_ATTEMPT + 1);
    expect(first.at(-1)).toMatchObject({ level: "warn" });
    expect(first.at(-1)?.message).toContain("limit");
    expect(lines.filter((l) => l.attempt === 2)).toHaveLength(1);
    log.stop();
  });

  test("long lines are cut and strings PostgreSQL cannot store are mended", async () => {
    const { written, log } = recorder();
    log.write("t1", 1, "x".repeat(10_000));
    log.write("t1", 1, "nul\u0000 and lone \ud800 surrogate");
    await log.flush();
    const [long, odd] = written.flat();
    expect(long?.message.length).toBe(4000);
    expect(odd?.message).toBe("nul\uFFFD and lone \uFFFD surrogate");
    log.stop();
  });

  test("the end of an attempt writes its lines at once, in one statement with the others", async () => {
    const { written, log } = recorder();
    log.write("a", 1, "from a");
    log.write("b", 1, "from b");
    await log.end("a", 1);
    expect(written).toHaveLength(1);
    expect(written[0]?.map((l) => l.message)).toEqual(["from a", "from b"]);
    log.stop();
  });
});
