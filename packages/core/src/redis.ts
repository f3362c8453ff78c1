import { Cluster, Redis, type RedisOptions } from "ioredis";
import { withTimeout } from "./timeout.ts";

/** Where Redis is: one server by URL, or a cluster by seed nodes. */
export interface RedisTarget {
  url: string;
  clusterNodes: string[];
}

export type RedisClient = Redis | Cluster;

/**
 * What a connection is for. `worker` connections block and must never give up on a command
 * (`maxRetriesPerRequest: null`, as BullMQ requires); `producer` connections must fail fast
 * when Redis is away, so a submit answers instead of hanging.
 */
export type ConnectionRole = "worker" | "producer";

const PRODUCER_TIMEOUT_MS = 2000;
const CLUSTER_SLOTS = 16384;

function options(role: ConnectionRole, name: string): RedisOptions {
  const base: RedisOptions = {
    connectionName: name,
    lazyConnect: false,
    // Keep reconnecting forever, never faster than every 2 s.
    retryStrategy: (times) => Math.min(100 * 2 ** times, 2000),
  };
  if (role === "worker") return { ...base, maxRetriesPerRequest: null, enableReadyCheck: true };
  return {
    ...base,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: PRODUCER_TIMEOUT_MS,
    connectTimeout: PRODUCER_TIMEOUT_MS,
  };
}

/** Seed nodes from `host:port` strings (`REDIS_CLUSTER_NODES`). */
export function parseClusterNodes(nodes: string[]): { host: string; port: number }[] {
  return nodes.map((hp) => {
    const at = hp.lastIndexOf(":");
    return { host: hp.slice(0, at) || "127.0.0.1", port: Number(hp.slice(at + 1)) };
  });
}

/**
 * A new ioredis client: a `Cluster` when cluster nodes are given, else one `Redis`. The role's
 * options apply to each cluster node's connection; the fail-fast ones (no offline queue) apply
 * to the cluster itself, which refuses commands at once while it is not ready. Each node keeps
 * its own offline queue (ioredis forces it) for the moment a slot moves, bounded by
 * `commandTimeout` on producers.
 */
export function createRedis(target: RedisTarget, role: ConnectionRole, name = `conveyor-${role}`): RedisClient {
  const opts = options(role, name);
  if (target.clusterNodes.length > 0) {
    // The cluster's own retry covers reconnects.
    const { enableOfflineQueue, retryStrategy, ...redisOptions } = opts;
    return endsWhenClosed(
      new Cluster(parseClusterNodes(target.clusterNodes), {
        redisOptions,
        enableOfflineQueue: enableOfflineQueue ?? true,
        enableReadyCheck: true,
        clusterRetryStrategy: retryStrategy,
        // Producers must not sit out a long slot refresh: a submit answers within its timeout anyway.
        slotsRefreshTimeout: PRODUCER_TIMEOUT_MS,
      }),
    );
  }
  return new Redis(target.url, opts);
}

/**
 * Makes a cluster closed by `disconnect()` end for good, refusing what waits in its offline
 * queue. ioredis (6.0) leaves it short of `end` in two ways: a late drain of its node pool sets
 * the status back to `close`, and with an empty pool nothing drains at all (`disconnecting`
 * forever); a command retried meanwhile (a worker's BZPOPMIN that met CLUSTERDOWN while a master
 * restarted) then waits forever, and BullMQ's `Worker.close()` with it. Seen in tests/cluster;
 * about every other close after a master restart hung before this.
 */
function endsWhenClosed(cluster: Cluster): Cluster {
  // ioredis internals: there is no public way to end a cluster or reject its offline queue.
  const internals = cluster as unknown as {
    manuallyClosing?: boolean;
    setStatus(status: string): void;
    flushQueue(err: Error): void;
  };
  const end = () => {
    internals.setStatus("end");
    internals.flushQueue(new Error("Connection is closed."));
  };
  cluster.on("close", () => {
    if (internals.manuallyClosing && cluster.status === "close") end();
  });
  // With an empty node pool (every node already dropped) nothing drains on disconnect(), and the
  // cluster would sit in `disconnecting` with its offline queue forever: end it at once.
  const disconnect = cluster.disconnect.bind(cluster);
  cluster.disconnect = (reconnect = false) => {
    disconnect(reconnect);
    if (!reconnect && cluster.status === "disconnecting" && cluster.nodes("all").length === 0) end();
  };
  // BullMQ makes its blocking connections with duplicate(): they need the same care.
  const duplicate = cluster.duplicate.bind(cluster);
  cluster.duplicate = (...args: Parameters<Cluster["duplicate"]>) => endsWhenClosed(duplicate(...args));
  return cluster;
}

/** Resolves once the client is ready, or rejects after `timeoutMs`. */
export async function waitReady(client: RedisClient, timeoutMs = 5000): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off("ready", onReady);
    };
    client.on("ready", onReady);
  });
}

/**
 * The masters to visit for scans, pings and config checks (the one server when not clustered).
 * A cluster knows its masters once it is ready: wait for that first (`waitReady`).
 */
export function masters(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes("master") : [client];
}

/**
 * Answers when Redis does: the one server, or, on a cluster, the master of every slot (a
 * readiness check: one master away means some queues are, although the others still answer).
 */
export async function pingAll(client: RedisClient): Promise<void> {
  if (!(client instanceof Cluster)) {
    await client.ping();
    return;
  }
  if (client.status !== "ready") throw new RedisDownError();
  const connected = new Map(masters(client).map((n) => [`${n.options.host}:${n.options.port}`, n]));
  const owners = new Set<string>();
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) owners.add(client.slots[slot]?.[0] ?? "");
  try {
    await Promise.all(
      [...owners].map((key) => {
        const node = connected.get(key);
        return node ? node.ping() : Promise.reject(new RedisDownError());
      }),
    );
  } catch (err) {
    // A master that went away is dropped from the client until the slot map is read again:
    // read it now, so the check answers ok once that master is back even if nothing else asks.
    client.refreshSlotsCache();
    throw err;
  }
}

/**
 * Every key matching `pattern` on every master, page by page (SCAN on one server sees only its
 * own keys). Each page comes with the master that holds its keys, so a caller can act on them
 * there without a cross-slot command.
 */
export async function* scanKeys(
  client: RedisClient,
  pattern: string,
  count = 1000,
): AsyncGenerator<{ node: Redis; keys: string[] }> {
  if (client instanceof Cluster) await waitReady(client);
  for (const node of masters(client)) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", count);
      cursor = next;
      if (keys.length > 0) yield { node, keys };
    } while (cursor !== "0");
  }
}

/** Warns (returns the offending nodes) when a master does not run with `maxmemory-policy noeviction`. */
export async function evictingNodes(client: RedisClient): Promise<string[]> {
  if (client instanceof Cluster) await waitReady(client);
  const bad: string[] = [];
  for (const node of masters(client)) {
    try {
      const res = (await node.config("GET", "maxmemory-policy")) as string[];
      if (res[1] && res[1] !== "noeviction") bad.push(`${node.options.host}:${node.options.port} (${res[1]})`);
    } catch {
      // CONFIG may be disabled on managed Redis; nothing to check then.
    }
  }
  return bad;
}

/** Redis is not connected: the call was not sent. */
export class RedisDownError extends Error {
  override name = "RedisDownError";
  constructor() {
    super("Redis is not connected");
  }
}

const CALL_TIMEOUT_MS = 2000;

/**
 * Runs a call on a fail-fast connection: refused at once while the client is not connected
 * (BullMQ would otherwise wait for it to come back), and cut short after `timeoutMs`.
 */
export function whenReady<T>(client: RedisClient, call: () => Promise<T>, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
  if (client.status !== "ready") return Promise.reject(new RedisDownError());
  return withTimeout(call(), timeoutMs, "Redis");
}
