import {
  EVENTS_QUEUE,
  type Logger,
  type RedisClient,
  RedisDownError,
  TASK_EVENT_NAME,
  type TaskEvent,
  whenReady,
} from "@conveyor/core";
import { QueueEventsProducer } from "bullmq";

// Enough history for a reconnecting dashboard to catch up; older entries are trimmed.
const MAX_EVENTS = 100_000;

/**
 * Publishes task state changes on the one shared event stream. Losing an event is never
 * fatal (the ledger has the state), so failures are logged and swallowed.
 */
export class EventPublisher {
  private readonly producer: QueueEventsProducer;

  constructor(
    private readonly connection: RedisClient,
    prefix: string,
    private readonly log: Logger,
  ) {
    this.producer = new QueueEventsProducer(EVENTS_QUEUE, { connection, prefix });
    this.producer.on("error", (err) => this.log.warn({ err: err.message }, "event producer error"));
  }

  async publish(event: TaskEvent): Promise<void> {
    try {
      await whenReady(this.connection, () =>
        this.producer.publishEvent({ eventName: TASK_EVENT_NAME, data: JSON.stringify(event) }, MAX_EVENTS),
      );
    } catch (err) {
      // While Redis is down every event is lost the same way: one line at debug, not a flood.
      const level = err instanceof RedisDownError ? "debug" : "warn";
      this.log[level]({ taskId: event.id, status: event.status, err: (err as Error).message }, "event not published");
    }
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}
