import { afterAll, describe, expect, test } from "bun:test";
import { Cluster, Redis } from "ioredis";
import {
  createRedis,
  evictingNodes,
  masters,
  parseClusterNodes,
  pingAll,
  type RedisClient,
  RedisDownError,
  scanKeys,
  waitReady,
  whenReady,
} from "./redis.ts";

// The shared test Redis (a cluster of three masters is exercised in tests/cluster).
const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const opened: RedisClient[] = [];
const open = (...args: Parameters<typeof createRedis>) => {
  const client = createRedis(...args);
  client.on("error", () => {});
  opened.push(client);
  return client;
};
afterAll(() => {
  for (const c of opened) c.disconnect();
});

/** A port nothing listens on (just now). */
function deadPort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

describe("parseClusterNodes", () => {
  test("host:port pairs, the port after the last colon", () => {
    expect(parseClusterNodes(["10.0.0.1:7000", "redis-2.local:7001"])).toEqual([
      { host: "10.0.0.1", port: 7000 },
      { host: "redis-2.local", port: 7001 },
    ]);
  });
});

describe("createRedis with cluster nodes", () => {
  const target = () => ({ url, clusterNodes: [`127.0.0.1:${deadPort()}`] });

  test("is a Cluster; worker nodes never give up on a command, as BullMQ requires", () => {
    const worker = open(target(), "worker", "t-worker") as Cluster;
    expect(worker).toBeInstanceOf(Cluster);
    expect(worker.options.redisOptions?.maxRetriesPerRequest).toBeNull();
    expect(worker.options.enableOfflineQueue).toBe(true);
  });

  test("a producer refuses commands at once while the cluster is not ready", async () => {
    const producer = open(target(), "producer", "t-producer");
    expect(producer).toBeInstanceOf(Cluster);
    await expect(producer.get("anything")).rejects.toThrow(/enableOfflineQueue/);
    await expect(whenReady(producer, () => producer.get("anything"))).rejects.toBeInstanceOf(RedisDownError);
    await expect(pingAll(producer)).rejects.toBeInstanceOf(RedisDownError);
  });
});

describe("a cluster closed by disconnect() ends", () => {
  test("even when it never reached a node: what waited in its offline queue is refused", async () => {
    const worker = open({ url, clusterNodes: [`127.0.0.1:${deadPort()}`] }, "worker", "t-never") as Cluster;
    // BullMQ's blocking connections are duplicates: they must end the same way.
    const blocking = worker.duplicate();
    blocking.on("error", () => {});
    opened.push(blocking);
    for (const client of [worker, blocking]) {
      const outcome = client.get("anything").then(
        () => "answered",
        (err: Error) => err.message,
      );
      await Bun.sleep(300);
      expect(masters(client)).toEqual([]);
      client.disconnect();
      expect(await Promise.race([outcome, Bun.sleep(3000).then(() => "still waiting")])).toBe("Connection is closed.");
      expect(client.status).toBe("end");
    }
  });
});

describe("on one server", () => {
  test("createRedis without cluster nodes is one Redis; masters() is that server", async () => {
    const client = open({ url, clusterNodes: [] }, "producer");
    expect(client).toBeInstanceOf(Redis);
    await waitReady(client);
    expect(masters(client)).toEqual([client as Redis]);
    await pingAll(client);
  });

  test("scanKeys finds every key under a pattern, page by page, and only those", async () => {
    const client = open({ url, clusterNodes: [] }, "worker");
    const prefix = `test-scan-${crypto.randomUUID().slice(0, 8)}`;
    const keys = Array.from({ length: 25 }, (_, i) => `${prefix}:{k${i}}:x`);
    await client.mset(...keys.flatMap((k) => [k, "1"]));
    await client.set(`${prefix}-other`, "1");
    try {
      const seen: string[] = [];
      for await (const page of scanKeys(client, `${prefix}:*`, 5)) {
        expect(page.node).toBe(client as Redis);
        seen.push(...page.keys);
      }
      expect(seen.sort()).toEqual([...keys].sort());
    } finally {
      await client.unlink(...keys, `${prefix}-other`);
    }
  });

  test("evictingNodes reads the server's maxmemory-policy", async () => {
    const client = open({ url, clusterNodes: [] }, "producer");
    await waitReady(client);
    const [, policy] = (await client.config("GET", "maxmemory-policy")) as string[];
    expect(await evictingNodes(client)).toEqual(
      policy === "noeviction" ? [] : [expect.stringContaining(`(${policy})`)],
    );
  });
});
