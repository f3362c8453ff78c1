import { describe, expect, test } from "bun:test";
import { Distribution } from "./metrics.ts";

/** A distribution of `values`, stored and read back as a row would be. */
function stored(values: number[]): Distribution {
  const d = new Distribution();
  for (const v of values) d.accept(v);
  return Distribution.decode(d.count, d.sum, d.min, d.max, d.encode());
}

describe("Distribution", () => {
  test("quantiles of merged stored sketches are those of all the values, within 1%", () => {
    // Skewed halves: averaging each half's median would say 275, the true median is ~100.
    const fast = Array.from({ length: 900 }, (_, i) => 1 + (i % 100));
    const slow = Array.from({ length: 100 }, (_, i) => 500 + i * 5);
    const all = [...fast, ...slow].sort((a, b) => a - b);
    const merged = new Distribution();
    merged.merge(stored(fast));
    merged.merge(stored(slow));
    const s = merged.summary();
    const at = (q: number) => all[Math.floor(q * (all.length - 1))] as number;
    for (const [q, v] of [
      [0.5, s.p50],
      [0.95, s.p95],
      [0.99, s.p99],
    ] as const) {
      expect(Math.abs((v as number) - at(q)) / at(q)).toBeLessThanOrEqual(0.01 + 1e-9);
    }
    expect(s.min).toBe(1);
    expect(s.max).toBe(995);
    expect(s.avg).toBeCloseTo(all.reduce((a, b) => a + b, 0) / all.length, 3);
  });

  test("an empty distribution is all nulls and stores no sketch; zeros count", () => {
    const empty = new Distribution();
    expect(empty.summary()).toEqual({ avg: null, min: null, max: null, p50: null, p95: null, p99: null });
    expect(empty.encode()).toBeNull();
    const zeros = stored([0, 0, 0]);
    expect(zeros.summary()).toEqual({ avg: 0, min: 0, max: 0, p50: 0, p95: 0, p99: 0 });
  });
});
