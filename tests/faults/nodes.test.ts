import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NodeView } from "@conveyor/db";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";

describe("node liveness: heartbeat row and Redis key, lost after 15 s of silence, gone on a clean stop", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await createTestStack({ label: "nodes" });
  });
  afterAll(() => stack?.close());

  const registry = () => stack.runtime.ledger.nodes();
  const key = (id: string) => `${stack.prefix}:node:${id}`;
  const listed = async (id: string): Promise<NodeView | undefined> =>
    (await registry().listNodes()).find((n) => n.id === id);

  test("the heartbeat writes the node's row and key and keeps them fresh", async () => {
    const node = await stack.startNode({ types: ["echo"], heartbeatMs: 100 });
    const row = await listed(node.id);
    expect(row).toMatchObject({ status: "up", pid: process.pid, types: ["echo"], active: 0 });
    expect(row?.concurrency.echo).toBeGreaterThan(0);
    expect(row?.version).toBe("0.1.0");

    const value = JSON.parse((await stack.runtime.redis.get(key(node.id))) ?? "null") as { id: string } | null;
    expect(value?.id).toBe(node.id);
    const ttl = await stack.runtime.redis.pttl(key(node.id));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);

    const first = row?.lastSeenAt.getTime() ?? 0;
    const later = await eventually(
      async () => {
        const r = await listed(node.id);
        return r && r.lastSeenAt.getTime() > first && r.rssBytes > 0 ? r : undefined;
      },
      { what: "a later heartbeat" },
    );
    expect(later.status).toBe("up");

    // A row removed under a live node (pruned while it was stalled) is written again.
    await registry().removeNode(node.id);
    await eventually(() => listed(node.id), { what: "the row written again" });
  });

  test("a node silent for over 15 s lists as lost; after an hour it is pruned", async () => {
    const node = await stack.startNode({ types: ["echo"], heartbeatMs: 100 });
    await node.kill();
    await stack.runtime.pg.sql`update nodes set last_seen_at = now() - interval '20 seconds' where id = ${node.id}`;

    expect((await listed(node.id))?.status).toBe("lost");
    expect(await registry().staleNodeIds(15_000)).toContain(node.id);
    // The Redis key is only the fast view: it expires on its own (three beats).
    await eventually(async () => (await stack.runtime.redis.exists(key(node.id))) === 0, { what: "the key to expire" });

    await stack.runtime.pg.sql`update nodes set last_seen_at = now() - interval '2 hours' where id = ${node.id}`;
    expect(await listed(node.id)).toBeUndefined();
    expect(await registry().pruneNodes()).toBeGreaterThanOrEqual(1);
    const left = await stack.runtime.pg.sql`select 1 from nodes where id = ${node.id}`;
    expect(left.length).toBe(0);
  });

  test("a node that stops cleanly leaves the list at once", async () => {
    const node = await stack.startNode({ types: ["echo"] });
    expect((await listed(node.id))?.status).toBe("up");
    await node.close(0);
    expect(await listed(node.id)).toBeUndefined();
    expect(await stack.runtime.redis.exists(key(node.id))).toBe(0);
  });
});
