import { eq, getTableColumns, lt, sql } from "drizzle-orm";
import type { DbHandle } from "./client.ts";
import { type NodeRow, nodes } from "./schema/index.ts";

/** A node silent this long is `lost` (CONTRACT.md, `GET /v1/nodes`). */
export const NODE_LOST_AFTER_MS = 15_000;
/** A node silent this long leaves the list and its row is deleted. */
export const NODE_FORGOTTEN_AFTER_MS = 3_600_000;

export type NodeStatus = "up" | "lost";

/** A node as `GET /v1/nodes` shows it: its row and whether it still answers. */
export type NodeView = NodeRow & { status: NodeStatus };

/** What a node announces about itself when it starts. */
export type NewNodeRow = typeof nodes.$inferInsert;

/** What each heartbeat reports. */
export interface NodeStats {
  active: number;
  rssBytes: number;
  eventLoopLagMs: number;
  concurrency: Record<string, number>;
}

// Thresholds are compared with the database's clock, the same one that stamps `last_seen_at`,
// so a node's clock running fast or slow cannot make it look alive or dead.
const silentFor = (ms: number) => sql`now() - make_interval(secs => ${ms / 1000}::float8)`;

/**
 * Worker node liveness in PostgreSQL. The row is the truth about a node: its Redis heartbeat
 * key is only the fast path and vanishes with Redis.
 */
export class NodeRegistry {
  constructor(private readonly pg: DbHandle) {}

  /** Announces a node, or refreshes its row when it is already known; marks it seen now. */
  async upsertNode(row: NewNodeRow): Promise<void> {
    const { id: _id, startedAt: _startedAt, ...changes } = row;
    await this.pg.db
      .insert(nodes)
      .values({ ...row, lastSeenAt: sql`now()` })
      .onConflictDoUpdate({ target: nodes.id, set: { ...changes, lastSeenAt: sql`now()` } });
  }

  /** Records a heartbeat; false when the row is gone (pruned or removed), so the caller announces itself again. */
  async touchNode(id: string, stats: NodeStats): Promise<boolean> {
    const rows = await this.pg.db
      .update(nodes)
      .set({ ...stats, lastSeenAt: sql`now()` })
      .where(eq(nodes.id, id))
      .returning({ id: nodes.id });
    return rows.length > 0;
  }

  /** A node that stops cleanly leaves the list at once. */
  async removeNode(id: string): Promise<void> {
    await this.pg.db.delete(nodes).where(eq(nodes.id, id));
  }

  /** Nodes heard from within the hour, oldest first; silent for 15 s means `lost`. */
  async listNodes(): Promise<NodeView[]> {
    return this.pg.db
      .select({
        ...getTableColumns(nodes),
        status: sql<NodeStatus>`case when ${nodes.lastSeenAt} > ${silentFor(NODE_LOST_AFTER_MS)} then 'up' else 'lost' end`,
      })
      .from(nodes)
      .where(sql`${nodes.lastSeenAt} > ${silentFor(NODE_FORGOTTEN_AFTER_MS)}`)
      .orderBy(nodes.startedAt, nodes.id);
  }

  /** Deletes nodes silent for over an hour; returns how many. */
  async pruneNodes(): Promise<number> {
    const rows = await this.pg.db
      .delete(nodes)
      .where(lt(nodes.lastSeenAt, silentFor(NODE_FORGOTTEN_AFTER_MS)))
      .returning({ id: nodes.id });
    return rows.length;
  }

  /** Ids of nodes not heard from for `olderThanMs`. */
  async staleNodeIds(olderThanMs: number): Promise<string[]> {
    const rows = await this.pg.db
      .select({ id: nodes.id })
      .from(nodes)
      .where(lt(nodes.lastSeenAt, silentFor(olderThanMs)));
    return rows.map((r) => r.id);
  }
}
