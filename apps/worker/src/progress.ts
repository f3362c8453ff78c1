import type { Logger } from "@conveyor/core";
import type { Ledger, TaskRow } from "@conveyor/db";
import { type EventPublisher, taskEvent } from "@conveyor/scheduler";

/**
 * Progress reports, coalesced: a handler may report as often as it likes; every
 * `intervalMs` the latest value of each task is written in one statement and published once.
 * Ten thousand tasks reporting ten times each cost a few statements, not a hundred thousand.
 */
export class ProgressReporter {
  private pending = new Map<string, TaskRow>();
  /** Tasks whose attempt is still running here: only their skipped reports are kept. */
  private readonly live = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly ledger: Ledger,
    private readonly events: EventPublisher,
    private readonly log: Logger,
    private readonly intervalMs = 250,
  ) {}

  /** Notes a task's progress (0-100); written at the next flush. */
  report(task: TaskRow, percent: number): void {
    if (!Number.isFinite(percent)) return;
    task.progress = Math.max(0, Math.min(100, percent));
    this.pending.set(task.id, task);
    this.live.add(task.id);
    this.schedule(this.intervalMs);
  }

  /** Drops a task's unwritten report: its attempt is ending and writes its own progress. */
  forget(taskId: string): void {
    this.pending.delete(taskId);
    this.live.delete(taskId);
  }

  private schedule(ms: number): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
    this.timer.unref?.();
  }

  /** Writes what is pending now. */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending.clear();
    this.flushing = (async () => {
      try {
        const written = await this.ledger.setProgress(batch.map((t) => ({ taskId: t.id, progress: t.progress ?? 0 })));
        // A row busy at that instant was skipped: keep its report for the next flush, unless a
        // newer one came meanwhile (or the task is ending and dropped it).
        for (const t of batch) {
          if (!written.has(t.id) && !this.pending.has(t.id) && this.live.has(t.id)) this.pending.set(t.id, t);
        }
        await Promise.all(
          batch.filter((t) => written.has(t.id)).map((t) => this.events.publish(taskEvent(t, "running"))),
        );
      } catch (err) {
        this.log.warn({ tasks: batch.length, err: (err as Error).message }, "progress not saved");
      } finally {
        this.flushing = null;
        // Thousands of tasks reporting at once are written less often: a dashboard gains
        // nothing from more than about one update a second per task, and the ledger pays for each.
        if (this.pending.size > 0) this.schedule(batch.length > 1000 ? this.intervalMs * 4 : this.intervalMs);
      }
    })();
    return this.flushing;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending.clear();
    this.live.clear();
  }
}
