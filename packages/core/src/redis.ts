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

/** A new ioredis client (a `Cluster` when cluster nodes are given). */
export function createRedis(target: RedisTarget, role: ConnectionRole, name = `conveyor-${role}`): RedisClient {
  const opts = options(role, name);
  if (target.clusterNodes.length > 0) {
    const nodes = target.clusterNodes.map((hp) => {
      const [host, port] = hp.split(":");
      return { host: host ?? "127.0.0.1", port: Number(port) };
    });
    const { enableOfflineQueue, retryStrategy, ...redisOptions } = opts;
    return new Cluster(nodes, {
      redisOptions,
      enableOfflineQueue: enableOfflineQueue ?? true,
      clusterRetryStrategy: retryStrategy,
    });
  }
  return new Redis(target.url, opts);
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

/** The masters to visit for scans and config checks (the one server when not clustered). */
export function masters(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes("master") : [client];
}

/** Warns (returns the offending nodes) when a master does not run with `maxmemory-policy noeviction`. */
export async function evictingNodes(client: RedisClient): Promise<string[]> {
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
