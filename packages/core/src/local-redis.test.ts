import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { RedisUnavailableError, resolveLocalRedis } from "./local-redis.ts";

const rootDirs: string[] = [];

async function tempRoot(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "conveyor-redis-"));
  rootDirs.push(dir);
  return dir;
}

/** A port that was free a moment ago: the kernel picks it, we release it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1" }, () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

afterAll(async () => {
  await Promise.all(rootDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("resolveLocalRedis", () => {
  test.skipIf(!Bun.which("redis-server"))("spawns a private redis-server, reuses it, and stops it", async () => {
    const rootDir = await tempRoot();
    const port = await freePort();
    const redis = await resolveLocalRedis({ dataRoot: rootDir, port });
    try {
      expect(redis.spawned).toBe(true);
      expect(redis.url).toBe(`redis://127.0.0.1:${port}`);

      const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await client.connect();
      expect(await client.ping()).toBe("PONG");
      expect(await client.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
      expect(await client.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
      client.disconnect();
      expect(existsSync(join(rootDir, "redis", "appendonlydir"))).toBe(true);

      const again = await resolveLocalRedis({ dataRoot: rootDir, port, which: () => null });
      expect(again.spawned).toBe(false);
      expect(again.url).toBe(redis.url);
      await again.stop();
      expect(await accepts(port)).toBe(true);
    } finally {
      await redis.stop();
    }
    expect(await accepts(port)).toBe(false);
  });

  test("throws RedisUnavailableError when nothing answers and redis-server is not on PATH", async () => {
    const port = await freePort();
    const attempt = resolveLocalRedis({ dataRoot: await tempRoot(), port, which: () => null });
    await expect(attempt).rejects.toBeInstanceOf(RedisUnavailableError);
    await expect(attempt).rejects.toThrow("apt-get install redis-server");
  });

  test("refuses a port held by something that is not Redis", async () => {
    const server = createServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    const port = await new Promise<number>((resolve) =>
      server.listen({ port: 0, host: "127.0.0.1" }, () => {
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      }),
    );
    try {
      await expect(resolveLocalRedis({ dataRoot: await tempRoot(), port })).rejects.toBeInstanceOf(
        RedisUnavailableError,
      );
    } finally {
      server.close();
    }
  });
});
