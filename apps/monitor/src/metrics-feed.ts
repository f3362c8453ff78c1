import type { Logger } from "@conveyor/core";
import type { MetricsFigures } from "@conveyor/scheduler";

/** What the `metrics` event carries, once a second. */
export type LiveMetrics = Pick<
  MetricsFigures,
  "pending" | "running" | "throughputPerSec" | "successRate" | "runTimeMs" | "waitTimeMs" | "activeNodes"
>;

/** The figures of a tenant (null: every tenant). */
export type MetricsSource = (tenant: string | null) => Promise<MetricsFigures>;

type Listener = (m: LiveMetrics) => void;

const ALL = "\u0000all";

/**
 * Computes the live metrics once per interval per distinct tenant that has listeners, and shares
 * the result among that tenant's listeners (never one query per client). A tenant whose previous
 * computation is still running skips the tick rather than piling queries up.
 */
export class MetricsFeed {
  private readonly byTenant = new Map<string, { tenant: string | null; listeners: Set<Listener>; busy: boolean }>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly source: MetricsSource,
    private readonly log: Logger,
    private readonly intervalMs = 1000,
  ) {}

  /** Adds a listener for a tenant's figures; returns how to remove it. */
  subscribe(tenant: string | null, fn: Listener): () => void {
    const key = tenant ?? ALL;
    let entry = this.byTenant.get(key);
    if (!entry) {
      entry = { tenant, listeners: new Set(), busy: false };
      this.byTenant.set(key, entry);
    }
    entry.listeners.add(fn);
    this.timer ??= setInterval(() => this.tick(), this.intervalMs);
    return () => {
      const e = this.byTenant.get(key);
      if (!e) return;
      e.listeners.delete(fn);
      if (e.listeners.size === 0) this.byTenant.delete(key);
      if (this.byTenant.size === 0) this.stop();
    };
  }

  private tick(): void {
    for (const entry of this.byTenant.values()) {
      if (entry.busy) continue;
      entry.busy = true;
      this.source(entry.tenant)
        .then((r) => {
          const m: LiveMetrics = {
            pending: r.pending,
            running: r.running,
            throughputPerSec: r.throughputPerSec,
            successRate: r.successRate,
            runTimeMs: r.runTimeMs,
            waitTimeMs: r.waitTimeMs,
            activeNodes: r.activeNodes,
          };
          for (const fn of entry.listeners) fn(m);
        })
        .catch((err) => this.log.debug({ err: (err as Error).message }, "live metrics not computed"))
        .finally(() => {
          entry.busy = false;
        });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
