import { describe, expect, test } from "bun:test";
import { createLogger } from "@conveyor/core";
import {
  RESTART_BACKOFF_MAX_MS,
  restartDelay,
  TargetWindow,
  type WorkerChild,
  WorkerSupervisor,
  workerTarget,
} from "./worker-supervisor.ts";
import { supervisorSettings } from "./workers.ts";

describe("workerTarget", () => {
  test("alone: the nodes asked for, within [min, max]", () => {
    expect(workerTarget(3, 1, 0, 1, 8)).toBe(3);
    expect(workerTarget(20, 1, 0, 1, 8)).toBe(8);
    expect(workerTarget(1, 4, 0, 2, 8)).toBe(2);
    expect(workerTarget(1, 4, 0, 0, 8)).toBe(1);
  });

  test("beside other nodes: a share in proportion to its workers", () => {
    // Two supervisors with one worker each, 6 asked for: 3 each, 6 in all.
    expect(workerTarget(6, 1, 1, 1, 10)).toBe(3);
    // At 3 + 3 each keeps 3: a split that adds up is stable.
    expect(workerTarget(6, 3, 3, 1, 10)).toBe(3);
    // Beside one fixed node (`bun run start`'s worker) it converges to the rest: 1 -> 3 -> 5.
    expect(workerTarget(6, 1, 1, 1, 10)).toBe(3);
    expect(workerTarget(6, 3, 1, 1, 10)).toBe(5);
    expect(workerTarget(6, 5, 1, 1, 10)).toBe(5);
    // None of its own yet: the minimum.
    expect(workerTarget(6, 0, 2, 1, 10)).toBe(1);
  });
});

describe("restartDelay", () => {
  test("doubles with each crash in a row, up to 30 s", () => {
    expect([1, 2, 3, 4].map((n) => restartDelay(n, 1000))).toEqual([1000, 2000, 4000, 8000]);
    expect(restartDelay(10, 1000)).toBe(RESTART_BACKOFF_MAX_MS);
    expect(restartDelay(1000, 1000)).toBe(RESTART_BACKOFF_MAX_MS);
    expect(restartDelay(0, 200)).toBe(200);
  });
});

describe("TargetWindow", () => {
  test("grows at once; shrinks only to the largest target of the window", () => {
    const w = new TargetWindow(10_000);
    expect(w.next(4, 1, 0)).toBe(4);
    // A dip 3 s later keeps the 4 running.
    expect(w.next(1, 4, 3000)).toBe(4);
    expect(w.next(2, 4, 8000)).toBe(4);
    // 4 left the window at 10 s: the largest since is 2.
    expect(w.next(1, 4, 12_000)).toBe(2);
    expect(w.next(1, 2, 17_000)).toBe(2);
    expect(w.next(1, 2, 22_000)).toBe(1);
  });

  test("a zero window follows the signal both ways", () => {
    const w = new TargetWindow(0);
    expect(w.next(5, 1, 0)).toBe(5);
    expect(w.next(2, 5, 1)).toBe(2);
  });
});

describe("supervisorSettings", () => {
  test("defaults, values, and a clear error for a bad one", () => {
    expect(supervisorSettings({})).toEqual({
      intervalMs: 5000,
      scaleDownDelayMs: 60_000,
      restartBackoffMs: 1000,
      arrivalWindowMs: undefined,
    });
    expect(supervisorSettings({ WORKERS_INTERVAL_MS: "250", WORKERS_ARRIVAL_WINDOW_MS: "2000" })).toMatchObject({
      intervalMs: 250,
      arrivalWindowMs: 2000,
    });
    expect(() => supervisorSettings({ WORKERS_INTERVAL_MS: "5", WORKERS_RESTART_BACKOFF_MS: "x" })).toThrow(
      /WORKERS_INTERVAL_MS.*\n.*WORKERS_RESTART_BACKOFF_MS/,
    );
  });
});

describe("WorkerSupervisor with real processes", () => {
  const log = createLogger("test", "silent");
  const spawnBun = (code: string) => (): WorkerChild => {
    const child = Bun.spawn([process.execPath, "-e", code], { stdout: "ignore", stderr: "ignore" });
    return {
      pid: child.pid,
      exited: child.exited.then(() => child.exitCode),
      signalCode: () => (child.signalCode === null ? null : String(child.signalCode)),
      kill: (signal) => child.kill(signal),
    };
  };
  const reading = (desiredNodes: number, activeByPid = new Map<number, number>()) => ({
    desiredNodes,
    backlog: 0,
    activeNodes: 0,
    otherNodes: 0,
    activeByPid,
  });

  test("a worker that keeps crashing is restarted with a growing wait, not in a spin", async () => {
    let spawned = 0;
    const crashing = spawnBun("process.exit(3)");
    const supervisor = new WorkerSupervisor({
      min: 1,
      max: 1,
      intervalMs: 20,
      scaleDownDelayMs: 0,
      restartBackoffMs: 50,
      killAfterMs: 5000,
      log,
      spawn: () => {
        spawned++;
        return crashing();
      },
      read: async () => reading(1),
    });
    supervisor.start();
    await Bun.sleep(1500);
    await supervisor.shutdown();
    // Waits of 50, 100, 200, 400, 800 ms fit at most six starts in 1.5 s; without them the 20 ms
    // loop would have made dozens.
    expect(spawned).toBeGreaterThanOrEqual(2);
    expect(spawned).toBeLessThanOrEqual(6);
  });

  test("scaling down stops the least busy workers with SIGTERM; shutdown passes the signal to the rest", async () => {
    let desired = 3;
    let busy = new Map<number, number>();
    const supervisor = new WorkerSupervisor({
      min: 1,
      max: 5,
      intervalMs: 20,
      scaleDownDelayMs: 0,
      restartBackoffMs: 50,
      killAfterMs: 5000,
      log,
      spawn: spawnBun("setInterval(() => {}, 1000)"),
      read: async () => reading(desired, busy),
    });
    supervisor.start();
    const pids = await eventuallyPids(supervisor, 3);
    const [a, b, c] = pids as [number, number, number];
    busy = new Map([
      [a, 0],
      [b, 7],
      [c, 2],
    ]);
    desired = 1;
    const left = await eventuallyPids(supervisor, 1);
    expect(left).toEqual([b]);
    for (const pid of [a, c]) expect(() => process.kill(pid, 0)).toThrow();
    await supervisor.shutdown("SIGINT");
    expect(supervisor.pids()).toEqual([]);
    expect(() => process.kill(b, 0)).toThrow();
  });
});

async function eventuallyPids(supervisor: WorkerSupervisor, count: number): Promise<number[]> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const pids = supervisor.pids();
    if (pids.length === count) return pids;
    await Bun.sleep(20);
  }
  throw new Error(`expected ${count} workers, have ${supervisor.pids().length}`);
}
