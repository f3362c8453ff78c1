import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRedis, type LocalRedis, type RedisTarget, resolveLocalRedis, scanKeys, waitReady } from "@conveyor/core";
import { freePort } from "./ports.ts";
import { testServices } from "./services.ts";

/** A queue prefix of a suite's own, so suites never see each other's jobs. */
export function testPrefix(label = "t"): string {
  return `test-${label}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Deletes every key under `prefix:` (what a suite leaves in Redis) on every master of `target`
 * (default: the shared Redis). Keys are unlinked one by one on the master that holds them:
 * a cluster refuses one UNLINK over keys of different slots.
 */
export async function deletePrefix(prefix: string, target?: RedisTarget): Promise<void> {
  const where = target ?? { url: (await testServices()).redisUrl, clusterNodes: [] };
  const redis = createRedis(where, "worker", "conveyor-test-cleanup");
  redis.on("error", () => {});
  try {
    await waitReady(redis);
    for await (const { node, keys } of scanKeys(redis, `${prefix}:*`)) {
      const pipeline = node.pipeline();
      for (const key of keys) pipeline.unlink(key);
      await pipeline.exec();
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * A redis-server of a suite's own on a free port (data in a temporary folder), for a suite that
 * must FLUSHALL for real without touching the shared Redis. `stop()` also removes its data.
 */
export async function startPrivateRedis(label: string): Promise<LocalRedis> {
  const dataRoot = await mkdtemp(join(tmpdir(), `conveyor-${label}-`));
  const redis = await resolveLocalRedis({ dataRoot, port: freePort() });
  return {
    ...redis,
    async stop() {
      await redis.stop();
      await rm(dataRoot, { recursive: true, force: true });
    },
  };
}

/**
 * `redis-server` on 127.0.0.1:`port` as the fault and cluster suites run it: nothing kept on disk
 * (a restart starts empty), `noeviction` as Conveyor requires, `extra` flags on top.
 */
export function spawnRedisServer(port: number, extra: string[] = []): ReturnType<typeof Bun.spawn> {
  return Bun.spawn(
    [
      "redis-server",
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--maxmemory-policy",
      "noeviction",
      ...extra,
    ],
    { stdin: "ignore", stdout: "ignore", stderr: "ignore" },
  );
}
