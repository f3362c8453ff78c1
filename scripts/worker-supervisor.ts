import type { Logger } from "@conveyor/core";

/** A worker process as the supervisor sees it. */
export interface WorkerChild {
  pid: number;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** The signal that ended it, once it has exited. */
  signalCode(): string | null;
  kill(signal: NodeJS.Signals): void;
}

/** What the supervisor decides from, read from `/v1/scaling`'s computation and the nodes list. */
export interface ScalingReading {
  desiredNodes: number;
  backlog: number;
  activeNodes: number;
  /** Worker nodes up that this supervisor did not start (another host, `bun run start`...). */
  otherNodes: number;
  /** Running tasks per worker pid of this host, to stop the least busy first. */
  activeByPid: Map<number, number>;
}

export interface SupervisorOptions {
  min: number;
  max: number;
  /** How often the signal is read. */
  intervalMs: number;
  /** A smaller target must hold this long before workers are stopped (the largest target seen in it wins). */
  scaleDownDelayMs: number;
  /** The first wait before replacing a crashed worker; doubles with each crash in a row. */
  restartBackoffMs: number;
  /** How long a stopped worker may drain before it is killed (SHUTDOWN_GRACE_MS plus a margin). */
  killAfterMs: number;
  log: Logger;
  spawn(): WorkerChild;
  /**
   * Reads the signal given the pids of every worker ever started and of those running now; a
   * rejection keeps the workers there are (PostgreSQL may be down).
   */
  read(workers: { spawned: ReadonlySet<number>; running: ReadonlySet<number> }): Promise<ScalingReading>;
}

/** A crash loop waits at most this long between restarts. */
export const RESTART_BACKOFF_MAX_MS = 30_000;
/** A worker that ran this long before it died ends a crash streak: its replacement starts after the first backoff. */
export const STABLE_AFTER_MS = 30_000;

/**
 * How many workers this supervisor should run, within [min, max]: all the nodes asked for when
 * every node up is its own, else its share in proportion to the workers it runs. Several
 * supervisors (one per host) then settle on a split that adds up to `desiredNodes`, where each
 * taking "desired less the others" would swing all of them up and down together.
 */
export function workerTarget(desiredNodes: number, mine: number, otherNodes: number, min: number, max: number): number {
  const share = otherNodes === 0 ? desiredNodes : Math.ceil((desiredNodes * mine) / (mine + otherNodes));
  return Math.min(max, Math.max(min, share));
}

/** The wait before the n-th restart in a row (n >= 1): `base * 2^(n-1)`, at most 30 s (or `base` when larger). */
export function restartDelay(crashesInARow: number, baseMs: number): number {
  const n = Math.max(1, crashesInARow);
  return Math.min(Math.max(baseMs, RESTART_BACKOFF_MAX_MS), baseMs * 2 ** Math.min(n - 1, 20));
}

/**
 * Targets of the last `windowMs`: growing follows the newest at once, shrinking follows the
 * largest seen in the window, so a dip in the signal does not stop workers that are needed
 * again a moment later (what Kubernetes' HPA does with its stabilization window).
 */
export class TargetWindow {
  private readonly seen: { at: number; target: number }[] = [];

  constructor(private readonly windowMs: number) {}

  /** Records a target; returns the one to act on given `current` workers. */
  next(target: number, current: number, now: number): number {
    this.seen.push({ at: now, target });
    while (this.seen.length > 0 && (this.seen[0]?.at ?? now) < now - this.windowMs) this.seen.shift();
    if (target >= current) return target;
    const largest = Math.max(...this.seen.map((s) => s.target));
    return Math.min(current, largest);
  }
}

interface Tracked {
  child: WorkerChild;
  startedAt: number;
  /** Asked to stop (scale down or shutdown): its exit is expected. */
  stopping: boolean;
}

/**
 * Keeps between `min` and `max` worker processes as the scaling signal asks, replaces any that
 * die (with a backoff, so a crash loop does not spin), stops extra ones with SIGTERM (they
 * drain), and on `shutdown` passes the signal on and waits for every worker to exit.
 */
export class WorkerSupervisor {
  private readonly children = new Map<number, Tracked>();
  private readonly spawned = new Set<number>();
  private readonly window: TargetWindow;
  private crashesInARow = 0;
  private spawnNotBefore = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ticking: Promise<void> | undefined;
  private closing = false;
  private lastTarget = -1;
  /** Set by a tick that must run again sooner than `intervalMs` (a restart backoff ending). */
  private wakeInMs: number | undefined;

  constructor(private readonly opts: SupervisorOptions) {
    this.window = new TargetWindow(opts.scaleDownDelayMs);
  }

  /** Workers running and not asked to stop. */
  get live(): number {
    return [...this.children.values()].filter((c) => !c.stopping).length;
  }

  /** Pids of every worker process still running, draining ones included. */
  pids(): number[] {
    return [...this.children.keys()];
  }

  /** Starts the minimum at once, then follows the signal every `intervalMs`. */
  start(): void {
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.closing) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      // One tick at a time: the one running schedules the next when it ends.
      if (this.ticking) return;
      this.wakeInMs = undefined;
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        this.schedule(Math.min(this.opts.intervalMs, this.wakeInMs ?? Number.POSITIVE_INFINITY));
      });
    }, ms);
  }

  private async tick(): Promise<void> {
    const { min, max, log } = this.opts;
    let reading: ScalingReading | null = null;
    try {
      reading = await this.opts.read({ spawned: this.spawned, running: new Set(this.children.keys()) });
    } catch (err) {
      log.warn({ err: (err as Error).message }, "no scaling signal; keeping the workers there are");
    }
    if (this.closing) return;
    const live = this.live;
    const wanted = reading
      ? workerTarget(reading.desiredNodes, live, reading.otherNodes, min, max)
      : Math.min(max, Math.max(min, live));
    const target = this.window.next(wanted, live, Date.now());
    if (target !== this.lastTarget) {
      log.info(
        reading
          ? {
              target,
              running: live,
              desiredNodes: reading.desiredNodes,
              otherNodes: reading.otherNodes,
              activeNodes: reading.activeNodes,
              backlog: reading.backlog,
            }
          : { target, running: live },
        "worker target",
      );
      this.lastTarget = target;
    }
    if (target > live) this.grow(target - live);
    else if (target < live) this.shrink(live - target, reading?.activeByPid ?? new Map());
  }

  private grow(count: number): void {
    const wait = this.spawnNotBefore - Date.now();
    if (wait > 0) {
      // Restarting after a crash: try again when the backoff is over.
      this.wakeInMs = wait;
      return;
    }
    for (let i = 0; i < count; i++) this.spawnOne();
  }

  private spawnOne(): void {
    let child: WorkerChild;
    try {
      child = this.opts.spawn();
    } catch (err) {
      this.noteCrash(0);
      this.opts.log.error({ err: (err as Error).message }, "could not start a worker");
      return;
    }
    const tracked: Tracked = { child, startedAt: Date.now(), stopping: false };
    this.children.set(child.pid, tracked);
    this.spawned.add(child.pid);
    this.opts.log.info({ pid: child.pid, running: this.live }, "worker started");
    void child.exited.then((code) => this.onExit(tracked, code));
  }

  private onExit(tracked: Tracked, code: number | null): void {
    const { pid } = tracked.child;
    this.children.delete(pid);
    const signal = tracked.child.signalCode();
    if (tracked.stopping) {
      this.opts.log.info({ pid, code, signal }, "worker stopped");
      return;
    }
    const ranMs = Date.now() - tracked.startedAt;
    const delayMs = this.noteCrash(ranMs);
    this.opts.log.error({ pid, code, signal, ranMs, restartInMs: delayMs }, "worker exited unexpectedly; replacing it");
    this.schedule(delayMs);
  }

  /** Counts a crash; returns how long to wait before the next start. */
  private noteCrash(ranMs: number): number {
    this.crashesInARow = ranMs >= STABLE_AFTER_MS ? 1 : this.crashesInARow + 1;
    const delayMs = restartDelay(this.crashesInARow, this.opts.restartBackoffMs);
    this.spawnNotBefore = Date.now() + delayMs;
    return delayMs;
  }

  private shrink(count: number, activeByPid: Map<number, number>): void {
    // The least busy first (one not yet registered runs nothing), the newest among equals.
    const candidates = [...this.children.values()]
      .filter((c) => !c.stopping)
      .sort(
        (a, b) =>
          (activeByPid.get(a.child.pid) ?? 0) - (activeByPid.get(b.child.pid) ?? 0) || b.startedAt - a.startedAt,
      );
    for (const c of candidates.slice(0, count)) {
      this.opts.log.info(
        { pid: c.child.pid, active: activeByPid.get(c.child.pid) ?? 0 },
        "stopping a worker (scale down)",
      );
      this.stop(c, "SIGTERM");
    }
  }

  private stop(c: Tracked, signal: NodeJS.Signals): void {
    c.stopping = true;
    c.child.kill(signal);
    const kill = setTimeout(() => {
      if (!this.children.has(c.child.pid)) return;
      this.opts.log.warn(
        { pid: c.child.pid, afterMs: this.opts.killAfterMs },
        "worker did not stop in time; killing it",
      );
      c.child.kill("SIGKILL");
    }, this.opts.killAfterMs);
    void c.child.exited.then(() => clearTimeout(kill));
  }

  /** Stops following the signal, passes `signal` to every worker and waits until all have exited. */
  async shutdown(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    await this.ticking;
    const all = [...this.children.values()];
    this.opts.log.info({ signal, workers: all.length }, "stopping every worker");
    for (const c of all) this.stop(c, signal);
    await Promise.all(all.map((c) => c.child.exited));
  }
}
