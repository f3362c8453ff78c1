import type { Logger } from "@conveyor/core";
import type { Ledger } from "@conveyor/db";

/** Lines kept per attempt; past this, one line says so and the rest are dropped. */
export const MAX_LINES_PER_ATTEMPT = 500;
const MAX_LINE_CHARS = 4000;

type Level = "info" | "warn" | "error";
type Line = { taskId: string; attempt: number; level: Level; message: string; at: Date };

/**
 * What handlers log through their context, kept in the ledger: buffered and written every
 * `intervalMs` in one statement for all tasks, bounded per attempt, never sent to pino (a
 * handler's lines may carry user data).
 */
export class TaskLog {
  private buffer: Line[] = [];
  private readonly counts = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly ledger: Ledger,
    private readonly log: Logger,
    private readonly intervalMs = 250,
  ) {}

  /** Adds a line for an attempt; dropped once the attempt has logged its share. */
  write(taskId: string, attempt: number, message: string, level: Level = "info"): void {
    const key = `${taskId}#${attempt}`;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    if (n > MAX_LINES_PER_ATTEMPT + 1) return;
    const text =
      n > MAX_LINES_PER_ATTEMPT
        ? `log limit of ${MAX_LINES_PER_ATTEMPT} lines reached; later lines of this attempt are dropped`
        : storable(String(message)).slice(0, MAX_LINE_CHARS);
    this.buffer.push({
      taskId,
      attempt,
      level: n > MAX_LINES_PER_ATTEMPT ? "warn" : level,
      message: text,
      at: new Date(),
    });
    if (!this.timer) {
      this.timer = setInterval(() => void this.flush(), this.intervalMs);
      this.timer.unref?.();
    }
  }

  /** The attempt is over: write what it logged now, and forget its count. */
  async end(taskId: string, attempt: number): Promise<void> {
    this.counts.delete(`${taskId}#${attempt}`);
    if (this.buffer.some((l) => l.taskId === taskId)) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.buffer.length === 0) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    const lines = this.buffer;
    this.buffer = [];
    this.flushing = this.ledger
      .appendLogs(lines)
      .catch((err) => this.log.warn({ lines: lines.length, err: (err as Error).message }, "task log lines not saved"))
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** PostgreSQL text cannot hold U+0000 or an unpaired surrogate: replace them. */
function storable(s: string): string {
  return s.replace(/\u0000/g, "\uFFFD").toWellFormed();
}
