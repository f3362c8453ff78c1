import {
  createRedis,
  EVENTS_QUEUE,
  type Logger,
  type RedisClient,
  type RedisTarget,
  type TaskEvent,
} from "@conveyor/core";
import { QueueEvents } from "bullmq";

/** One task event as read from the stream, with the stream id that orders and resumes it. */
export interface RelayedEvent {
  id: string;
  event: TaskEvent;
  /** The event's JSON text as published: written to every client as is, never serialized again per client. */
  json: string;
}

export type RelayListener = (e: RelayedEvent) => void;

/** What a client asked to see: its tenant (null: every tenant) narrowed by type and task id. */
export interface EventFilter {
  tenant: string | null;
  type?: string;
  taskId?: string;
}

/** True when the event passes the filter. */
export function matches(f: EventFilter, e: TaskEvent): boolean {
  return (
    (f.tenant === null || e.tenant === f.tenant) && (!f.type || e.type === f.type) && (!f.taskId || e.id === f.taskId)
  );
}

/** Orders two stream ids (`<ms>-<seq>`) as Redis does. */
export function compareStreamIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

const STREAM_ID = /^\d{1,20}(-\d{1,20})?$/;
/** True for a well-formed stream id (what `Last-Event-ID` must be). */
export const isStreamId = (s: string) => STREAM_ID.test(s);

/** Stream entries fetched per XRANGE call during a replay. */
const REPLAY_PAGE = 500;

function parseEntry(fields: string[]): { event: TaskEvent; json: string } | null {
  let name: string | undefined;
  let data: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === "event") name = fields[i + 1];
    else if (fields[i] === "data") data = fields[i + 1];
  }
  if (name !== "task" || data === undefined) return null;
  try {
    return { event: JSON.parse(data) as TaskEvent, json: data };
  } catch {
    return null;
  }
}

/**
 * The one reader of the event stream per monitor process: a BullMQ `QueueEvents` on `{events}`
 * whose `task` events are fanned out in memory to every subscriber, plus `XRANGE` replay for
 * clients that resume with `Last-Event-ID`.
 */
export class EventRelay {
  private readonly listeners = new Set<RelayListener>();
  private readonly streamKey: string;
  private queueEvents: QueueEvents | undefined;
  private blocking: RedisClient | undefined;
  /** A separate, non-blocking connection for XRANGE and readiness checks. */
  readonly commands: RedisClient;
  private started: Promise<void> | undefined;
  private closed = false;
  /** Called for every event read from the stream (the Prometheus counter). */
  onEvent: () => void = () => {};

  constructor(
    private readonly target: RedisTarget,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    this.streamKey = `${prefix}:${EVENTS_QUEUE}:events`;
    this.commands = createRedis(target, "worker", "conveyor-monitor-replay");
    this.commands.on("error", (err) => log.debug({ err: err.message }, "monitor replay connection error"));
  }

  /**
   * Starts reading. The reader begins at the stream's last id when it starts (not at `$` when its
   * first XREAD happens), so no event published after `start()` resolves is missed.
   */
  start(): Promise<void> {
    this.started ??= this.open();
    return this.started;
  }

  private async open(): Promise<void> {
    let lastEventId = "$";
    try {
      const last = (await this.commands.xrevrange(this.streamKey, "+", "-", "COUNT", 1)) as [string, string[]][];
      lastEventId = last[0]?.[0] ?? "0-0";
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "event stream position not read; starting at its end");
    }
    if (this.closed) return;
    this.blocking = createRedis(this.target, "worker", "conveyor-monitor-events");
    this.blocking.on("error", (err) => this.log.debug({ err: err.message }, "monitor events connection error"));
    const qe = new QueueEvents(EVENTS_QUEUE, { connection: this.blocking, prefix: this.prefix, lastEventId });
    qe.on("error", (err) => this.log.warn({ err: (err as Error).message }, "event reader error"));
    // Custom events arrive under their own name; QueueEvents' typed listeners do not know it.
    (qe as unknown as { on(name: string, fn: (args: { data?: string }, id: string) => void): void }).on(
      "task",
      (args, id) => {
        if (typeof args.data !== "string") return;
        let event: TaskEvent;
        try {
          event = JSON.parse(args.data) as TaskEvent;
        } catch {
          return;
        }
        this.onEvent();
        const relayed = { id, event, json: args.data };
        for (const fn of this.listeners) fn(relayed);
      },
    );
    this.queueEvents = qe;
    await qe.waitUntilReady();
  }

  /** Adds a listener for live events; returns how to remove it. */
  subscribe(fn: RelayListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Passes the events after `afterId` (exclusive) up to now to `each`, oldest first, page by page,
   * until `each` answers false. Returns the last stream id read.
   */
  async replay(afterId: string, each: (e: RelayedEvent) => Promise<boolean>): Promise<string> {
    let start = `(${afterId}`;
    let last = afterId;
    for (;;) {
      const page = (await this.commands.xrange(this.streamKey, start, "+", "COUNT", REPLAY_PAGE)) as [
        string,
        string[],
      ][];
      for (const [id, fields] of page) {
        last = id;
        const entry = parseEntry(fields);
        if (entry && !(await each({ id, ...entry }))) return last;
      }
      if (page.length < REPLAY_PAGE) return last;
      start = `(${last}`;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.started?.catch(() => {});
    await this.queueEvents?.close().catch(() => {});
    this.blocking?.disconnect();
    this.commands.disconnect();
  }
}
