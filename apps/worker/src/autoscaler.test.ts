import { describe, expect, test } from "bun:test";
import { createLogger } from "@conveyor/core";
import {
  AUTOSCALER_DEFAULTS,
  Autoscaler,
  type AutoscalerSettings,
  decideConcurrency,
  type Headroom,
  type ScalablePool,
  type TypeLoad,
} from "./autoscaler.ts";

const settings: AutoscalerSettings = {
  ...AUTOSCALER_DEFAULTS,
  growth: 2,
  idleTicks: 3,
  maxLagMs: 100,
  maxRssBytes: 1e9,
};
const calm: Headroom = { lagMs: 5, rssBytes: 1e8 };
const load = (over: Partial<TypeLoad>): TypeLoad => ({
  min: 2,
  max: 40,
  current: 2,
  backlog: 0,
  peakActive: 0,
  idleTicks: 0,
  ...over,
});

describe("decideConcurrency", () => {
  test("a backlog with every slot in use raises, doubling, up to the maximum", () => {
    expect(decideConcurrency(load({ current: 2, backlog: 100, peakActive: 2 }), calm, settings)).toEqual({
      concurrency: 4,
      idleTicks: 0,
      reason: "raise",
    });
    expect(decideConcurrency(load({ current: 32, backlog: 100, peakActive: 32 }), calm, settings).concurrency).toBe(40);
    expect(decideConcurrency(load({ current: 40, backlog: 100, peakActive: 40 }), calm, settings)).toMatchObject({
      concurrency: 40,
      reason: "hold",
    });
    // A growth below 2 still adds at least one slot.
    expect(
      decideConcurrency(load({ current: 2, backlog: 5, peakActive: 2 }), calm, { ...settings, growth: 1.1 })
        .concurrency,
    ).toBe(3);
  });

  test("a backlog the node is not taking (slots free: paused, rate limited) does not raise", () => {
    expect(decideConcurrency(load({ current: 8, backlog: 100, peakActive: 6 }), calm, settings)).toMatchObject({
      concurrency: 8,
      reason: "hold",
    });
  });

  test("busy slots without a backlog hold", () => {
    expect(decideConcurrency(load({ current: 8, backlog: 0, peakActive: 8 }), calm, settings)).toMatchObject({
      concurrency: 8,
      reason: "hold",
    });
    // An unknown backlog (Redis did not answer) never raises.
    expect(decideConcurrency(load({ current: 8, backlog: null, peakActive: 8 }), calm, settings).concurrency).toBe(8);
  });

  test("no headroom lowers at once, whatever the backlog, never below the minimum", () => {
    const lagging = { lagMs: 500, rssBytes: 1e8 };
    const full = { lagMs: 0, rssBytes: 2e9 };
    expect(decideConcurrency(load({ current: 40, backlog: 100, peakActive: 40 }), lagging, settings)).toEqual({
      concurrency: 30,
      idleTicks: 0,
      reason: "pressure",
    });
    expect(decideConcurrency(load({ current: 8, backlog: 100, peakActive: 8 }), full, settings).concurrency).toBe(6);
    expect(decideConcurrency(load({ current: 2, backlog: 100, peakActive: 2 }), lagging, settings)).toMatchObject({
      concurrency: 2,
      reason: "hold",
    });
  });

  test("idle slots are given back after `idleTicks` looks, halving toward the minimum", () => {
    let l = load({ current: 40, backlog: 0, peakActive: 0 });
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) {
      const d = decideConcurrency(l, calm, settings);
      seen.push(d.concurrency);
      l = { ...l, current: d.concurrency, idleTicks: d.idleTicks };
    }
    expect(seen.slice(0, 2)).toEqual([40, 40]);
    expect(seen[2]).toBe(21);
    expect(seen.at(-1)).toBe(2);
    for (let i = 1; i < seen.length; i++) expect(seen[i] as number).toBeLessThanOrEqual(seen[i - 1] as number);
  });

  test("lowering keeps room for twice what ran; half-used slots hold", () => {
    expect(
      decideConcurrency(load({ current: 40, backlog: 0, peakActive: 15, idleTicks: 5 }), calm, settings),
    ).toMatchObject({ concurrency: 35, reason: "lower" });
    expect(decideConcurrency(load({ current: 40, backlog: 0, peakActive: 21, idleTicks: 5 }), calm, settings)).toEqual({
      concurrency: 40,
      idleTicks: 0,
      reason: "hold",
    });
  });

  test("a concurrency outside the range is brought into it", () => {
    expect(decideConcurrency(load({ current: 100, backlog: 0, peakActive: 30 }), calm, settings).concurrency).toBe(40);
    expect(decideConcurrency(load({ current: 1, backlog: 0, peakActive: 1 }), calm, settings).concurrency).toBe(2);
  });
});

describe("Autoscaler", () => {
  test("a look resizes each pool by its own backlog and use; a failed backlog read only holds", async () => {
    const sizes: Record<string, number> = { a: 2, b: 10, c: 2 };
    // a runs full, b idles, c runs full but its backlog cannot be read.
    const peaks: Record<string, () => number> = { a: () => sizes.a as number, b: () => 0, c: () => 2 };
    const pool = (type: string): ScalablePool => ({
      type,
      range: { min: 2, max: 40 },
      get concurrency() {
        return sizes[type] as number;
      },
      resize: (n) => {
        sizes[type] = n;
      },
      takePeak: () => peaks[type]?.() ?? 0,
    });
    const scaler = new Autoscaler({
      pools: [pool("a"), pool("b"), pool("c")],
      backlog: async (type) => {
        if (type === "c") throw new Error("Redis is away");
        return type === "a" ? 50 : 0;
      },
      log: createLogger("test", "silent"),
      settings: { idleTicks: 1, maxLagMs: 10_000 },
      rssBytes: () => 1,
    });
    await scaler.tick();
    expect(sizes).toEqual({ a: 4, b: 6, c: 2 });
    await scaler.tick();
    expect(sizes).toEqual({ a: 8, b: 4, c: 2 });
    await scaler.stop();
  });
});
