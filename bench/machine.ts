import { cpus, loadavg, release, totalmem } from "node:os";
import { Redis } from "ioredis";
import postgres from "postgres";

/** What the numbers were measured on. */
export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  platform: string;
  kernel: string;
  bun: string;
  loadAverage: number[];
  redis: string;
  postgres: string;
}

export async function describeMachine(services: { adminUrl: string; redisUrl: string }): Promise<MachineInfo> {
  const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  const sql = postgres(services.adminUrl, { max: 1, onnotice: () => {} });
  try {
    await redis.connect();
    const info = await redis.info("server");
    const [pg] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
    return {
      cores: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      memoryBytes: totalmem(),
      platform: `${process.platform}-${process.arch}`,
      kernel: release(),
      bun: Bun.version,
      loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
      redis: /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown",
      postgres: pg?.v ?? "unknown",
    };
  } finally {
    redis.disconnect();
    await sql.end();
  }
}
