import { isConnectionError } from "./unavailable.ts";

/**
 * Group commit: calls that arrive while a statement is in flight wait and go together in the
 * next one, so many concurrent tasks share one round trip and one commit. A lone call runs at
 * once (no timer, no added latency); batching happens only when there is a queue.
 *
 * `run` gets the items and answers one result per item, in order. If a batch fails for any
 * reason but a lost connection, each item is run alone so one bad item fails only itself.
 */
export class GroupCommit<I, O> {
  private queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: { maxBatch: number; maxInFlight: number } = { maxBatch: 500, maxInFlight: 2 },
  ) {}

  /** Queues one item; resolves with its result when its batch commits. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.inFlight < this.opts.maxInFlight) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.opts.maxBatch);
    this.inFlight++;
    try {
      const results = await this.run(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(results[i] as O));
    } catch (err) {
      if (batch.length === 1 || isConnectionError(err)) {
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
    }
  }
}
