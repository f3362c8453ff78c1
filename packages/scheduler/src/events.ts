import {
  EVENTS_QUEUE,
  GroupCommit,
  type Logger,
  type RedisClient,
  RedisDownError,
  TASK_EVENT_NAME,
  type TaskEvent,
  whenReady,
  withTimeout,
} from "@conveyor/core";
import { QueueEventsProducer } from "bullmq";

// Enough history for a reconnecting dashboard to catch up; older entries are trimmed.
const MAX_EVENTS = 100_000;

/**
 * One call appends a whole batch: each entry exactly as `QueueEventsProducer.publishEvent`
 * writes it (`event` = the name, then `data`). A pipeline of XADDs does the same in as many
 * commands, and building and parsing those cost the client about five times more per event.
 */
const XADD_EVENTS = "conveyorXaddEvents";
const XADD_EVENTS_LUA = `
for i = 3, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[2], 'data', ARGV[i])
end
return #ARGV - 2`;

type WithXaddEvents = RedisClient & {
  [XADD_EVENTS](key: string, maxLen: number, name: string, ...data: string[]): Promise<number>;
};

/**
 * Publishes task state changes on the one shared event stream (`<prefix>:{events}:events`).
 * Events that arrive together go out in one script call, each written exactly as BullMQ's
 * `QueueEventsProducer.publishEvent` writes it (field `event` = `task`, then `data`), so
 * `QueueEvents` reads them as custom events. Losing an event is never fatal (the ledger has
 * the state): failures are logged and swallowed.
 */
export class EventPublisher {
  private readonly producer: QueueEventsProducer;
  private readonly streamKey: string;
  private readonly batches: GroupCommit<TaskEvent, void>;

  constructor(
    private readonly connection: RedisClient,
    prefix: string,
    private readonly log: Logger,
  ) {
    // The producer names the stream key the way BullMQ does (and would publish one by one).
    this.producer = new QueueEventsProducer(EVENTS_QUEUE, { connection, prefix });
    this.producer.on("error", (err) => this.log.warn({ err: err.message }, "event producer error"));
    this.streamKey = this.producer.keys.events as string;
    connection.defineCommand(XADD_EVENTS, { numberOfKeys: 1, lua: XADD_EVENTS_LUA });
    this.batches = new GroupCommit((events) => this.write(events), {
      maxBatch: 1000,
      maxInFlight: 1,
      // Events are best effort: a failed batch is not retried item by item.
      isTransient: () => true,
    });
  }

  private async write(events: TaskEvent[]): Promise<void[]> {
    const data = events.map((e) => JSON.stringify(e));
    await whenReady(this.connection, () =>
      (this.connection as WithXaddEvents)[XADD_EVENTS](this.streamKey, MAX_EVENTS, TASK_EVENT_NAME, ...data),
    );
    return events.map(() => undefined);
  }

  /** Publishes one event (batched with any others published meanwhile). */
  async publish(event: TaskEvent): Promise<void> {
    try {
      await this.batches.submit(event);
    } catch (err) {
      // While Redis is down every event is lost the same way: one line at debug, not a flood.
      const level = err instanceof RedisDownError ? "debug" : "warn";
      this.log[level]({ taskId: event.id, status: event.status, err: (err as Error).message }, "event not published");
    }
  }

  /** Sends what is queued, then closes. */
  async close(): Promise<void> {
    await withTimeout(this.batches.idle(), 2000, "event flush").catch(() => {});
    await this.producer.close();
  }
}
