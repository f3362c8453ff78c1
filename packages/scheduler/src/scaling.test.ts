import { describe, expect, test } from "bun:test";
import { computeScaling, nodeSecondsSince, type ScalingInputs } from "./scaling.ts";

const base: ScalingInputs = {
  backlog: 0,
  arrivals: 0,
  arrivalSeconds: 60,
  completions: 0,
  completionSeconds: 60,
  nodeSeconds: 0,
  activeNodes: 0,
  targetDrainSeconds: 60,
};

describe("computeScaling", () => {
  test("nothing anywhere: one node, drainSeconds null", () => {
    expect(computeScaling(base)).toEqual({
      backlog: 0,
      arrivalPerSec: 0,
      completionPerSec: 0,
      drainSeconds: null,
      activeNodes: 0,
      desiredNodes: 1,
    });
  });

  test("a backlog and no node yet asks for one (scale from zero)", () => {
    expect(computeScaling({ ...base, backlog: 500, arrivals: 500 }).desiredNodes).toBe(1);
  });

  test("a backlog with nothing completed yet keeps the nodes there are; drainSeconds stays null", () => {
    const s = computeScaling({ ...base, backlog: 500, activeNodes: 4, nodeSeconds: 240 });
    expect(s.desiredNodes).toBe(4);
    expect(s.drainSeconds).toBeNull();
  });

  test("drains the backlog within the target at the measured per-node rate", () => {
    // 2 nodes for 60 s completed 240 tasks: 2 tasks/s per node. 1200 waiting within 60 s is
    // 20/s, plus 1/s arriving: 21/s, 10.5 nodes -> 11.
    const s = computeScaling({
      ...base,
      backlog: 1200,
      arrivals: 60,
      completions: 240,
      nodeSeconds: 120,
      activeNodes: 2,
    });
    expect(s.arrivalPerSec).toBe(1);
    expect(s.completionPerSec).toBe(4);
    expect(s.drainSeconds).toBe(300);
    expect(s.desiredNodes).toBe(11);
  });

  test("a longer target asks for fewer nodes", () => {
    const inputs = { ...base, backlog: 1200, completions: 240, nodeSeconds: 120, activeNodes: 2 };
    const short = computeScaling({ ...inputs, targetDrainSeconds: 30 }).desiredNodes;
    const long = computeScaling({ ...inputs, targetDrainSeconds: 600 }).desiredNodes;
    expect(short).toBe(20);
    expect(long).toBe(1);
  });

  test("a node that joined late counts for its own seconds only", () => {
    // One node all 60 s and one for the last 15 s: 75 node-seconds, 150 tasks: 2/s per node.
    const s = computeScaling({ ...base, backlog: 240, completions: 150, nodeSeconds: 75, activeNodes: 2 });
    expect(s.desiredNodes).toBe(2);
  });

  test("an exact fit does not round up from float noise", () => {
    // 0.1 + 0.2 is 0.30000000000000004 in floating point, and that over 0.1 is just above 3.
    expect((0.1 + 0.2) / 0.1).toBeGreaterThan(3);
    const s = computeScaling({
      ...base,
      arrivals: 6,
      backlog: 12,
      targetDrainSeconds: 60,
      completions: 6,
      nodeSeconds: 60,
      activeNodes: 3,
    });
    expect(s.desiredNodes).toBe(3);
  });

  test("no backlog: never more than the active nodes, at least one", () => {
    const busy = computeScaling({ ...base, arrivals: 6000, completions: 6000, nodeSeconds: 180, activeNodes: 3 });
    expect(busy.desiredNodes).toBe(3);
    const quiet = computeScaling({ ...base, arrivals: 0, completions: 600, nodeSeconds: 180, activeNodes: 3 });
    expect(quiet.desiredNodes).toBe(1);
    expect(quiet.drainSeconds).toBe(0);
    const none = computeScaling({ ...base, arrivals: 30, completions: 30, nodeSeconds: 0, activeNodes: 0 });
    expect(none.desiredNodes).toBe(1);
  });

  test("no backlog and light arrivals: enough nodes for the arrivals", () => {
    // 10 nodes did 1 task/s each; 2 arrive a second: 2 nodes.
    const s = computeScaling({ ...base, arrivals: 120, completions: 600, nodeSeconds: 600, activeNodes: 10 });
    expect(s.desiredNodes).toBe(2);
  });

  test("without node seconds the rate is shared by the nodes up now", () => {
    const s = computeScaling({ ...base, backlog: 600, completions: 600, nodeSeconds: 0, activeNodes: 5 });
    // 10/s over 5 nodes: 2/s each; 600 within 60 s: 10/s -> 5 nodes.
    expect(s.desiredNodes).toBe(5);
  });
});

describe("nodeSecondsSince", () => {
  test("up nodes count until now, lost ones until last heard, none before the window", () => {
    const since = 1_000_000;
    const now = since + 60_000;
    const seconds = nodeSecondsSince(
      [
        { startedAt: new Date(since - 500_000), lastSeenAt: new Date(now), status: "up" },
        { startedAt: new Date(since + 45_000), lastSeenAt: new Date(now), status: "up" },
        { startedAt: new Date(since - 10_000), lastSeenAt: new Date(since + 20_000), status: "lost" },
        { startedAt: new Date(since - 90_000), lastSeenAt: new Date(since - 30_000), status: "lost" },
      ],
      since,
      now,
    );
    expect(seconds).toBe(60 + 15 + 20);
  });
});
