import type { Backoff } from "@conveyor/db";

/**
 * The wait before the next attempt after `failures` failed ones (1 = the first failed):
 * exponential is `delayMs * 2^(failures-1)`, fixed is `delayMs`. Jitter j takes up to that
 * fraction off at random, so retries of many tasks failing together spread out.
 */
export function backoffDelay(backoff: Backoff, failures: number, random: () => number = Math.random): number {
  const base = backoff.strategy === "exponential" ? backoff.delayMs * 2 ** Math.max(0, failures - 1) : backoff.delayMs;
  const jitter = backoff.jitter ?? 0;
  return Math.round(jitter > 0 ? base * (1 - jitter * random()) : base);
}
