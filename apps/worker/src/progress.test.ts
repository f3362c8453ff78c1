import { describe, expect, test } from "bun:test";
import { createLogger } from "@conveyor/core";
import type { Ledger, TaskRow } from "@conveyor/db";
import type { EventPublisher } from "@conveyor/scheduler";
import { ProgressReporter } from "./progress.ts";

/** A ledger whose rows are busy for the first `busyFlushes` writes (the real statement skips locked rows). */
function setup(busyFlushes: number) {
  const writes: { taskId: string; progress: number }[][] = [];
  let calls = 0;
  const ledger = {
    setProgress: async (reports: { taskId: string; progress: number }[]) => {
      writes.push(reports);
      calls++;
      return new Set(calls <= busyFlushes ? [] : reports.map((r) => r.taskId));
    },
  } as unknown as Ledger;
  const published: string[] = [];
  const events = { publish: async (e: { id: string }) => void published.push(e.id) } as unknown as EventPublisher;
  const reporter = new ProgressReporter(ledger, events, createLogger("test", "silent"), 10);
  const task = (id: string) =>
    ({ id, tenant: "t", type: "x", status: "running", progress: null, attempts: 1, node: "n" }) as TaskRow;
  return { writes, published, reporter, task };
}

describe("ProgressReporter", () => {
  test("coalesces to the latest value per task, one write per flush", async () => {
    const { writes, reporter, task } = setup(0);
    const a = task("a");
    for (const p of [10, 20, 30]) reporter.report(a, p);
    reporter.report(task("b"), 50);
    await Bun.sleep(40);
    expect(writes).toEqual([
      [
        { taskId: "a", progress: 30 },
        { taskId: "b", progress: 50 },
      ],
    ]);
    reporter.stop();
  });

  test("a report skipped because its row was busy is written at the next flush, and only then published", async () => {
    const { writes, published, reporter, task } = setup(1);
    reporter.report(task("a"), 40);
    await Bun.sleep(60);
    expect(writes.map((w) => w.map((r) => r.progress))).toEqual([[40], [40]]);
    expect(published).toEqual(["a"]);
    reporter.stop();
  });

  test("a task whose attempt ended is not written again", async () => {
    const { writes, reporter, task } = setup(100);
    reporter.report(task("a"), 40);
    await Bun.sleep(25);
    reporter.forget("a");
    const before = writes.length;
    await Bun.sleep(50);
    expect(writes.length).toBe(before);
    reporter.stop();
  });
});
