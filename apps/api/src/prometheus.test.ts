import { describe, expect, test } from "bun:test";
import { createLogger } from "@conveyor/core";
import { createApiMetrics } from "./prometheus.ts";

const log = createLogger("test", "silent");
const never = () => new Promise<never>(() => {});

/** The sample lines of one family (name followed by labels or a space). */
const samples = (text: string, name: string) => text.split("\n").filter((l) => l.startsWith(`${name}{`));

describe("api metrics collected at scrape time", () => {
  test("a scrape answers within its timeout when Redis and PostgreSQL hang, leaving their series out", async () => {
    const counted: string[] = [];
    const { registry } = createApiMetrics({
      types: () => ["echo", "sleep"],
      dispatcher: {
        counts: (type) => {
          counted.push(type);
          return never();
        },
      },
      nodes: { listNodes: never },
      log,
      scrapeTimeoutMs: 50,
    });
    const started = performance.now();
    const text = await registry.metrics();
    expect(performance.now() - started).toBeLessThan(1000);
    // One call per type for the three queue gauges together, not one per gauge.
    expect(counted).toEqual(["echo", "sleep"]);
    for (const name of [
      "conveyor_queue_waiting",
      "conveyor_queue_active",
      "conveyor_queue_delayed",
      "conveyor_nodes",
    ]) {
      expect(text).toContain(`# TYPE ${name} gauge`);
      expect(samples(text, name)).toEqual([]);
    }
  });

  test("counts come through; a failing source leaves only its own series out", async () => {
    let redisUp = true;
    const { registry } = createApiMetrics({
      types: () => ["echo"],
      dispatcher: {
        counts: async () => {
          if (!redisUp) throw new Error("Redis is not connected");
          return { wait: 2, prioritized: 1, delayed: 4, active: 5, failed: 9 };
        },
      },
      nodes: { listNodes: async () => [{ status: "up" }, { status: "lost" }, { status: "up" }] as never },
      log,
    });
    const up = await registry.metrics();
    expect(samples(up, "conveyor_queue_waiting")).toEqual(['conveyor_queue_waiting{type="echo"} 3']);
    expect(samples(up, "conveyor_queue_delayed")).toEqual(['conveyor_queue_delayed{type="echo"} 4']);
    expect(samples(up, "conveyor_queue_active")).toEqual(['conveyor_queue_active{type="echo"} 5']);
    expect(samples(up, "conveyor_nodes").sort()).toEqual([
      'conveyor_nodes{status="lost"} 1',
      'conveyor_nodes{status="up"} 2',
    ]);

    redisUp = false;
    const down = await registry.metrics();
    expect(samples(down, "conveyor_queue_waiting")).toEqual([]);
    expect(samples(down, "conveyor_nodes")).toHaveLength(2);
  });
});
