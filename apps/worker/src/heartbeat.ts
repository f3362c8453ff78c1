import type { Logger, RedisClient } from "@conveyor/core";
import type { NewNodeRow, NodeRegistry, NodeStats } from "@conveyor/db";

/** How often a node reports by default; `lost` comes after 15 s of silence, three missed beats. */
export const HEARTBEAT_MS = 5000;

// Event-loop lag is sampled more often than the node reports, and the worst sample since the
// last beat is what gets reported: a loop stalled for a second between beats should show.
const LAG_PROBE_MS = 500;

export interface HeartbeatDeps {
  /** Who this node is: written as the row when the heartbeat starts. */
  node: Omit<NewNodeRow, keyof NodeStats | "lastSeenAt">;
  nodes: NodeRegistry;
  /** A fail-fast connection: a beat must never queue up behind a Redis outage. */
  redis: RedisClient;
  prefix: string;
  log: Logger;
  intervalMs?: number;
  /** What the node is doing now. */
  stats(): { active: number; concurrency: Record<string, number> };
}

/** The Redis key under which a node announces itself (expires after three missed beats). */
export function nodeKey(prefix: string, nodeId: string): string {
  return `${prefix}:node:${nodeId}`;
}

/**
 * A node's heartbeat: every `intervalMs` a Redis key with a short expiry (the fast view) and a
 * touch of the node's PostgreSQL row (the truth the reconciler judges liveness by). A failed
 * beat is logged and the next one tries again.
 */
export class Heartbeat {
  private readonly intervalMs: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private probe: ReturnType<typeof setTimeout> | undefined;
  private maxLagMs = 0;
  private stopped = false;
  private beating: Promise<unknown> = Promise.resolve();
  private failures = 0;

  constructor(private readonly deps: HeartbeatDeps) {
    this.intervalMs = deps.intervalMs ?? HEARTBEAT_MS;
  }

  /** Writes the node's row and key, then beats until stopped. */
  async start(): Promise<void> {
    this.probeLag();
    await this.write(true);
    this.schedule();
  }

  /** Stops beating (and lets a beat in flight finish); the row and key are left to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.probe);
    await this.beating;
  }

  /** A clean stop: the node leaves the list at once instead of showing as lost. */
  async leave(): Promise<void> {
    await this.stop();
    const { nodes, redis, prefix, node, log } = this.deps;
    const results = await Promise.allSettled([nodes.removeNode(node.id), redis.del(nodeKey(prefix, node.id))]);
    for (const r of results) {
      if (r.status === "rejected") log.warn({ node: node.id, err: (r.reason as Error).message }, "node not removed");
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.beating = this.write(false).finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref?.();
  }

  /** One beat: the row (announced in full at start, or when it has gone) and the key, side by side. */
  private async write(announce: boolean): Promise<void> {
    const { nodes, node } = this.deps;
    const lag = this.maxLagMs;
    this.maxLagMs = 0;
    const stats: NodeStats = { ...this.deps.stats(), rssBytes: process.memoryUsage.rss(), eventLoopLagMs: lag };
    const results = await Promise.allSettled([
      announce
        ? nodes.upsertNode({ ...node, ...stats })
        : // A row pruned or removed while this node was stalled is written again.
          nodes
            .touchNode(node.id, stats)
            .then((found) => (found ? undefined : nodes.upsertNode({ ...node, ...stats }))),
      this.writeKey(stats),
    ]);
    const failure = results.find((r) => r.status === "rejected");
    if (failure) this.failed(failure.reason);
    else this.failures = 0;
  }

  private async writeKey(stats: NodeStats): Promise<void> {
    const { node, prefix, redis } = this.deps;
    const value = JSON.stringify({ id: node.id, host: node.host, pid: node.pid, ...stats, at: Date.now() });
    await redis.set(nodeKey(prefix, node.id), value, "PX", this.intervalMs * 3);
  }

  private failed(err: unknown): void {
    this.failures++;
    // The first failure and then one in ten: an outage must not flood the log.
    if (this.failures === 1 || this.failures % 10 === 0) {
      this.deps.log.warn(
        { node: this.deps.node.id, failures: this.failures, err: (err as Error).message },
        "heartbeat not written",
      );
    }
  }

  private probeLag(): void {
    const expected = performance.now() + LAG_PROBE_MS;
    this.probe = setTimeout(() => {
      this.maxLagMs = Math.max(this.maxLagMs, performance.now() - expected);
      if (!this.stopped) this.probeLag();
    }, LAG_PROBE_MS);
    this.probe.unref?.();
  }
}
