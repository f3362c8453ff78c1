import { withTimeout } from "./timeout.ts";

/** A dependency a process needs to serve: resolves when it answers, rejects otherwise. */
export type ReadinessCheck = () => Promise<void>;

export interface Readiness {
  ready: boolean;
  checks: Record<string, "ok" | "unavailable">;
}

/** Runs every check at once, each given `timeoutMs` to answer. */
export async function checkReadiness(checks: Record<string, ReadinessCheck>, timeoutMs = 2000): Promise<Readiness> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const ok = await withTimeout(check(), timeoutMs, name).then(
        () => true,
        () => false,
      );
      return [name, ok ? "ok" : "unavailable"] as const;
    }),
  );
  return { ready: results.every(([, s]) => s === "ok"), checks: Object.fromEntries(results) };
}
