import { Redis } from "ioredis";
import { testServices } from "./services.ts";

/** A queue prefix of a suite's own, so suites never see each other's jobs. */
export function testPrefix(label = "t"): string {
  return `test-${label}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Deletes every key under `prefix:` (what a suite leaves in Redis). */
export async function deletePrefix(prefix: string): Promise<void> {
  const { redisUrl } = await testServices();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
