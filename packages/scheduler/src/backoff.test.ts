import { describe, expect, test } from "bun:test";
import { backoffDelay } from "./backoff.ts";

describe("backoffDelay", () => {
  test("exponential doubles from delayMs", () => {
    const b = { strategy: "exponential" as const, delayMs: 100 };
    expect([1, 2, 3, 4].map((n) => backoffDelay(b, n))).toEqual([100, 200, 400, 800]);
  });
  test("fixed stays at delayMs", () => {
    expect(backoffDelay({ strategy: "fixed", delayMs: 250 }, 5)).toBe(250);
  });
  test("jitter takes at most its fraction off", () => {
    const b = { strategy: "fixed" as const, delayMs: 1000, jitter: 0.5 };
    expect(backoffDelay(b, 1, () => 0)).toBe(1000);
    expect(backoffDelay(b, 1, () => 0.999999)).toBe(500);
    expect(backoffDelay(b, 1, () => 0.5)).toBe(750);
  });
});
