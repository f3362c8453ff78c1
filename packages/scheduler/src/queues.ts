import { NotFoundError } from "@conveyor/core";
import { type Ledger, orUnavailable, type QueueSettingsRow } from "@conveyor/db";
import type { TaskCatalog } from "@conveyor/handlers";
import type { Dispatcher } from "./dispatch.ts";

/** `PATCH /v1/queues/:type`: a field left out keeps its value, null removes the limit. */
export interface QueueLimitsPatch {
  rateLimit?: { max: number; durationMs: number } | null;
  concurrency?: number | null;
}

/** A queue as `GET /v1/queues` shows it. */
export interface QueueView {
  type: string;
  waiting: number;
  delayed: number;
  active: number;
  failed: number;
  paused: boolean;
  rateLimit: { max: number; durationMs: number } | null;
  concurrency: number | null;
}

/** Queue administration: counts from BullMQ, settings kept in the ledger and applied to Redis. */
export class Queues {
  constructor(
    private readonly ledger: Ledger,
    private readonly catalog: TaskCatalog,
    private readonly dispatcher: Dispatcher,
  ) {}

  async list(): Promise<QueueView[]> {
    const settings = await orUnavailable("queues", () => this.ledger.queueSettingsList());
    const byType = new Map(settings.map((s) => [s.type, s]));
    return Promise.all(this.catalog.types.map((type) => this.view(type, byType.get(type))));
  }

  private async view(type: string, settings: QueueSettingsRow | undefined): Promise<QueueView> {
    const counts = await this.dispatcher.counts(type);
    return {
      type,
      // BullMQ keeps jobs with a priority in their own set: they are waiting too.
      waiting: (counts.wait ?? 0) + (counts.prioritized ?? 0),
      delayed: counts.delayed ?? 0,
      active: counts.active ?? 0,
      failed: counts.failed ?? 0,
      paused: settings?.paused ?? false,
      rateLimit: settings?.rateLimit ?? null,
      concurrency: settings?.concurrency ?? null,
    };
  }

  /** Pauses or resumes a queue on every node: kept in PostgreSQL first, then applied to Redis. */
  async setPaused(type: string, paused: boolean): Promise<QueueView> {
    if (!this.catalog.has(type)) throw new NotFoundError(`no queue for task type '${type}'`);
    const row = await orUnavailable("pause", () => this.ledger.setQueuePaused(type, paused));
    await this.dispatcher.setPaused(type, paused);
    return this.view(type, row);
  }

  /** Changes a queue's cluster-wide limits: kept in PostgreSQL first, then applied to every node through Redis. */
  async setLimits(type: string, patch: QueueLimitsPatch): Promise<QueueView> {
    if (!this.catalog.has(type)) throw new NotFoundError(`no queue for task type '${type}'`);
    const row = await orUnavailable("limits", () => this.ledger.setQueueLimits(type, patch));
    await this.dispatcher.applyLimits(type, { rateLimit: row.rateLimit ?? null, concurrency: row.concurrency ?? null });
    return this.view(type, row);
  }
}
