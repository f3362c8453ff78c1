import { describe, expect, test } from "bun:test";
import { GroupCommit } from "./group-commit.ts";

describe("GroupCommit", () => {
  test("a lone call runs at once; calls arriving meanwhile share the next batch, in order", async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number, number>(
      async (items) => {
        batches.push(items);
        await Bun.sleep(5);
        return items.map((i) => i * 10);
      },
      { maxBatch: 100, maxInFlight: 1 },
    );
    const first = gc.submit(0);
    const rest = Array.from({ length: 50 }, (_, i) => gc.submit(i + 1));
    expect(await first).toBe(0);
    expect(await Promise.all(rest)).toEqual(Array.from({ length: 50 }, (_, i) => (i + 1) * 10));
    expect(batches).toEqual([[0], Array.from({ length: 50 }, (_, i) => i + 1)]);
  });

  test("batches never exceed maxBatch", async () => {
    const sizes: number[] = [];
    const gc = new GroupCommit<number, number>(
      async (items) => {
        sizes.push(items.length);
        await Bun.sleep(1);
        return items;
      },
      { maxBatch: 7, maxInFlight: 1 },
    );
    await Promise.all(Array.from({ length: 30 }, (_, i) => gc.submit(i)));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(30);
  });

  test("one bad item in a failed batch fails alone; the others are committed one by one", async () => {
    const gc = new GroupCommit<number, number>(
      async (items) => {
        await Bun.sleep(1);
        if (items.includes(13)) throw new Error("unlucky");
        return items;
      },
      { maxBatch: 100, maxInFlight: 1 },
    );
    const results = await Promise.allSettled([1, 2, 13, 4].map((i) => gc.submit(i)));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
  });

  test("a transient error fails the whole batch, so each caller can retry", async () => {
    const gc = new GroupCommit<number, number>(
      async () => {
        throw Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
      },
      { isTransient: (err) => (err as { code?: string }).code === "ECONNREFUSED" },
    );
    const results = await Promise.allSettled([1, 2, 3].map((i) => gc.submit(i)));
    expect(results.every((r) => r.status === "rejected")).toBe(true);
  });
});

describe("GroupCommit.idle", () => {
  test("resolves at once when nothing is pending, and after the last batch otherwise", async () => {
    const done: number[] = [];
    const gc = new GroupCommit<number, number>(async (items) => {
      await Bun.sleep(5);
      done.push(...items);
      return items;
    });
    await gc.idle();
    for (const i of [1, 2, 3]) void gc.submit(i);
    await gc.idle();
    expect(done.sort()).toEqual([1, 2, 3]);
  });
});
