import { totalmem } from "node:os";
import type { Logger, RedisClient } from "@conveyor/core";
import type { ConcurrencyRange } from "./concurrency.ts";
import { LoopLag } from "./loop-lag.ts";

/** How the autoscaler moves a type's local concurrency. */
export interface AutoscalerSettings {
  /** How often it looks at backlog and headroom. */
  intervalMs: number;
  /** Raising multiplies the concurrency by this (at least +1), up to the type's maximum. */
  growth: number;
  /** Looks of low use in a row before lowering: a short lull between bursts keeps the slots. */
  idleTicks: number;
  /** Event-loop lag above which the node has no headroom: it lowers instead of raising. */
  maxLagMs: number;
  /** Resident memory above which the node has no headroom. */
  maxRssBytes: number;
}

/** Defaults for production: reach a maximum of 1,000 from 10 in about 7 s, give slots back after 5 s idle. */
export const AUTOSCALER_DEFAULTS: AutoscalerSettings = {
  intervalMs: 1000,
  growth: 2,
  idleTicks: 5,
  maxLagMs: 200,
  maxRssBytes: Math.floor(memoryLimit() * 0.8),
};

/** What the autoscaler knows about one type at a look. */
export interface TypeLoad extends ConcurrencyRange {
  current: number;
  /** Jobs waiting to start in the type's queue; null when Redis did not answer. */
  backlog: number | null;
  /** The most slots in use at once since the previous look. */
  peakActive: number;
  /** Looks of low use in a row so far (the decision's own state, carried between looks). */
  idleTicks: number;
}

/** How much the node has left: event-loop lag and memory. */
export interface Headroom {
  lagMs: number;
  rssBytes: number;
}

export interface ScaleDecision {
  concurrency: number;
  idleTicks: number;
  reason: "raise" | "lower" | "pressure" | "hold";
}

/**
 * One look at one type: raise while a backlog waits and every slot was in use (and the node has
 * headroom); lower under pressure at once, and after `idleTicks` looks using at most half the
 * slots, halving the distance to what was used (never below the minimum).
 */
export function decideConcurrency(load: TypeLoad, headroom: Headroom, s: AutoscalerSettings): ScaleDecision {
  const { min, max, peakActive } = load;
  const current = Math.min(max, Math.max(min, load.current));
  if (headroom.lagMs > s.maxLagMs || headroom.rssBytes > s.maxRssBytes) {
    const lowered = Math.max(min, Math.floor((current * 3) / 4));
    return { concurrency: lowered, idleTicks: 0, reason: lowered < current ? "pressure" : "hold" };
  }
  if ((load.backlog ?? 0) > 0 && peakActive >= current) {
    const raised = Math.min(max, Math.max(current + 1, Math.ceil(current * s.growth)));
    return { concurrency: raised, idleTicks: 0, reason: raised > current ? "raise" : "hold" };
  }
  if (peakActive * 2 <= current) {
    const idleTicks = load.idleTicks + 1;
    if (idleTicks < s.idleTicks || current === min) return { concurrency: current, idleTicks, reason: "hold" };
    // Keep room for what ran (twice the peak), lose half the rest each look.
    const floor = Math.max(min, peakActive * 2);
    const lowered = Math.max(floor, Math.min(current - 1, Math.floor((current + floor) / 2)));
    return { concurrency: lowered, idleTicks, reason: lowered < current ? "lower" : "hold" };
  }
  return { concurrency: current, idleTicks: 0, reason: "hold" };
}

/** One type's slots on this node, as the autoscaler drives them. */
export interface ScalablePool {
  type: string;
  range: ConcurrencyRange;
  /** The local concurrency now. */
  readonly concurrency: number;
  /** Sets the local concurrency (of the type's one BullMQ Worker on this node). */
  resize(n: number): void;
  /** The most slots in use at once since the previous call; starts the next window. */
  takePeak(): number;
}

export interface AutoscalerDeps {
  pools: ScalablePool[];
  /** Jobs waiting to start in a type's queue. */
  backlog(type: string): Promise<number>;
  log: Logger;
  settings?: Partial<AutoscalerSettings>;
  /** The node's resident memory; tests may pretend. */
  rssBytes?: () => number;
}

/** Looks at every served type each `intervalMs` and moves its concurrency (see `decideConcurrency`). */
export class Autoscaler {
  readonly settings: AutoscalerSettings;
  private readonly idle = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private lag: LoopLag | undefined;

  constructor(private readonly deps: AutoscalerDeps) {
    this.settings = { ...AUTOSCALER_DEFAULTS, ...deps.settings };
  }

  start(): void {
    this.lag ??= new LoopLag();
    this.schedule();
  }

  /** Stops looking (a look in flight finishes first). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.lag?.close();
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => this.schedule());
    }, this.settings.intervalMs);
    this.timer.unref?.();
  }

  /** One look at every type; public so tests can step it. */
  async tick(): Promise<void> {
    const { pools, log } = this.deps;
    const headroom: Headroom = {
      lagMs: this.lag?.takeMaxMs() ?? 0,
      rssBytes: this.deps.rssBytes?.() ?? process.memoryUsage.rss(),
    };
    const backlogs = await Promise.all(pools.map((p) => this.deps.backlog(p.type).catch(() => null)));
    pools.forEach((pool, i) => {
      if (this.stopped) return;
      const decision = decideConcurrency(
        {
          ...pool.range,
          current: pool.concurrency,
          backlog: backlogs[i] ?? null,
          peakActive: pool.takePeak(),
          idleTicks: this.idle.get(pool.type) ?? 0,
        },
        headroom,
        this.settings,
      );
      this.idle.set(pool.type, decision.idleTicks);
      if (decision.concurrency !== pool.concurrency) {
        log.debug(
          { type: pool.type, from: pool.concurrency, to: decision.concurrency, reason: decision.reason, ...headroom },
          "concurrency changed",
        );
        pool.resize(decision.concurrency);
      }
    });
  }
}

/**
 * Jobs waiting to start in a type's queue: BullMQ's `wait` list plus its `prioritized` set (every
 * Conveyor job has a priority). One pipelined round trip; both keys share the queue's hash tag.
 */
export async function queueBacklog(redis: RedisClient, prefix: string, queue: string): Promise<number> {
  const results = await redis.pipeline().llen(`${prefix}:${queue}:wait`).zcard(`${prefix}:${queue}:prioritized`).exec();
  let total = 0;
  for (const [err, n] of results ?? []) {
    if (err) throw err;
    total += Number(n);
  }
  return total;
}

/** The memory this process may use: its cgroup's limit when it has one, else the machine's. */
function memoryLimit(): number {
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  const total = totalmem();
  return constrained && constrained > 0 && constrained < total ? constrained : total;
}
