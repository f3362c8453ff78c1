/**
 * Group commit: calls that arrive while a statement is in flight wait and go together in the
 * next one, so many concurrent tasks share one round trip and one commit. A lone call runs at
 * once (no timer, no added latency); batching happens only when there is a queue.
 *
 * `run` gets the items and answers one result per item, in order. If a batch fails for any
 * reason but a transient one (a lost connection: `isTransient`), each item is run alone so one
 * bad item fails only itself.
 */
export interface GroupCommitOptions {
  /** The most items one batch carries (default 500). */
  maxBatch?: number;
  /** Batches that may be in flight at once (default 2). */
  maxInFlight?: number;
  /** Errors that fail a whole batch as they are (the callers retry), instead of item by item. */
  isTransient?: (err: unknown) => boolean;
}

export class GroupCommit<I, O> {
  private queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: GroupCommitOptions = {},
  ) {}

  private idleWaiters: (() => void)[] = [];

  /** Resolves once nothing is queued or in flight (for a clean shutdown). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Queues one item; resolves with its result when its batch commits. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.inFlight < (this.opts.maxInFlight ?? 2)) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.opts.maxBatch ?? 500);
    this.inFlight++;
    try {
      const results = await this.run(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(results[i] as O));
    } catch (err) {
      if (batch.length === 1 || this.opts.isTransient?.(err)) {
        for (const b of batch) b.reject(err);
      } else {
        await Promise.all(
          batch.map(async (b) => {
            try {
              const [one] = await this.run([b.item]);
              b.resolve(one as O);
            } catch (e) {
              b.reject(e);
            }
          }),
        );
      }
    } finally {
      this.inFlight--;
      if (this.queue.length > 0) void this.flush();
      else if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }
}
