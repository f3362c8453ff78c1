import type { AttemptOutcome, Logger } from "@conveyor/core";
import { MetricRollup, type MetricsStore, type RollupEntry } from "@conveyor/db";

const MINUTE_MS = 60_000;

interface Minute extends RollupEntry {
  /** Bumped by every record; the rollup is in PostgreSQL once a write of this version succeeded. */
  version: number;
  written: number;
}

/** Who an attempt belongs to, as the metrics group it. */
type TaskKey = { tenant: string; type: string };

/**
 * Rolls this node's attempts up per (tenant, type, minute) in memory and writes the rollups to
 * `metric_rollups` every `flushMs` and on close. A row holds the whole minute as this node saw
 * it, so each write replaces the last; a minute stays in memory until it is over and written.
 * Attempts the reconciler closes for a dead node (`stalled`) are not counted: no live node saw them end.
 */
export class MetricsRecorder {
  private readonly minutes = new Map<string, Minute>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly store: MetricsStore,
    private readonly node: string,
    private readonly log: Logger,
    private readonly flushMs = 5000,
  ) {}

  /** Writes what has changed every `flushMs` until `close()`. */
  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref?.();
  }

  /** An attempt started after waiting `waitMs` since its task was due. */
  recordStart(task: TaskKey, waitMs: number): void {
    const m = this.minute(task);
    m.rollup.wait.accept(waitMs);
    m.version++;
  }

  /**
   * An attempt ended after running `durationMs`; `status` is its task's status after it (null
   * when the ledger changed nothing: a cancel won), so `completed`/`failed` count final tasks.
   */
  recordEnd(task: TaskKey, outcome: Exclude<AttemptOutcome, "running">, durationMs: number, status: string | null) {
    const m = this.minute(task);
    m.rollup.ended++;
    m.rollup.run.accept(durationMs);
    if (outcome === "timed_out") m.rollup.timedOut++;
    if (status === "completed") m.rollup.completed++;
    else if (status === "failed") m.rollup.failed++;
    m.version++;
  }

  /** Writes every rollup changed since its last write, then forgets minutes that are over and written. */
  flush(): Promise<void> {
    // One write at a time: a slow one must not be overtaken by an older snapshot.
    this.writing ??= this.write().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  /** Stops the timer and writes what is left (once: a node closing must not wait on a database that is away). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    await this.flush();
  }

  /** For a killed node: stops without writing, as a dead process would. */
  stop(): void {
    clearInterval(this.timer);
  }

  private async write(): Promise<void> {
    const changed = [...this.minutes.values()].filter((m) => m.version !== m.written);
    const versions = changed.map((m) => m.version);
    if (changed.length > 0) {
      try {
        await this.store.write(this.node, changed);
        changed.forEach((m, i) => {
          m.written = versions[i] as number;
        });
      } catch (err) {
        // Kept in memory and written by a later flush: the rows carry whole minutes.
        this.log.warn({ err: (err as Error).message, rollups: changed.length }, "metrics write failed; will retry");
      }
    }
    const current = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    for (const [key, m] of this.minutes) {
      if (m.minute.getTime() < current && m.version === m.written) this.minutes.delete(key);
    }
  }

  private minute(task: TaskKey): Minute {
    const at = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    const key = `${at}\u0000${task.tenant}\u0000${task.type}`;
    let m = this.minutes.get(key);
    if (!m) {
      m = {
        minute: new Date(at),
        tenant: task.tenant,
        type: task.type,
        rollup: new MetricRollup(),
        version: 0,
        written: 0,
      };
      this.minutes.set(key, m);
    }
    return m;
  }
}
