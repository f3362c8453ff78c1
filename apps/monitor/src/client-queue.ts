import type { LiveMetrics } from "./metrics-feed.ts";

/** One message for a client, whatever carries it (an SSE event or a WebSocket frame). */
export type Outgoing =
  | { event: "task"; id: string; json: string }
  | { event: "metrics"; id: null; data: LiveMetrics }
  | { event: "comment"; id: null; data: string };

/** How many messages may wait for one slow client before it is dropped. */
export const CLIENT_QUEUE_LIMIT = 1000;

/**
 * The bounded queue between the shared reader and one client's stream. Pushing past the limit
 * closes the queue (the client is dropped and may resume with `Last-Event-ID`) instead of letting
 * a slow reader grow the process's memory.
 */
export class ClientQueue {
  private items: Outgoing[] = [];
  private wake: (() => void) | undefined;
  closed = false;
  overflowed = false;

  constructor(
    private readonly limit = CLIENT_QUEUE_LIMIT,
    private readonly onClose: (overflowed: boolean) => void = () => {},
  ) {}

  /** Queues a message; false when the queue is closed or has just overflowed (and closed). */
  push(item: Outgoing, force = false): boolean {
    if (this.closed) return false;
    if (!force && this.items.length >= this.limit) {
      this.overflowed = true;
      this.close();
      return false;
    }
    this.items.push(item);
    this.wake?.();
    return true;
  }

  /** The next message, or undefined once the queue is closed. */
  async next(): Promise<Outgoing | undefined> {
    while (this.items.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
    return this.closed ? undefined : this.items.shift();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.items = [];
    this.wake?.();
    this.onClose(this.overflowed);
  }
}
