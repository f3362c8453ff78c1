/**
 * `bun run test`: every test, once. Finds PostgreSQL and Redis (DATABASE_URL / REDIS_URL, else
 * an embedded PostgreSQL and a local or spawned Redis), runs `bun test` with them, and ends
 * with one plain line: "N passed, N failed, N skipped".
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger, projectRoot, resolveLocalRedis } from "@conveyor/core";
import { startEmbeddedPostgres } from "@conveyor/db/embedded";

const root = projectRoot();
const log = createLogger("test", "warn");
const dataDir = join(root, ".data", "test");
mkdirSync(dataDir, { recursive: true });

const stops: (() => Promise<void>)[] = [];
const env: Record<string, string> = { ...(process.env as Record<string, string>) };
if (!env.DATABASE_URL) {
  const pg = await startEmbeddedPostgres({ dataRoot: dataDir, log });
  stops.push(pg.stop);
  env.DATABASE_URL = pg.url;
  console.log(`tests use an embedded PostgreSQL on port ${pg.port}`);
}
if (!env.REDIS_URL) {
  const redis = await resolveLocalRedis({ dataRoot: dataDir, log });
  stops.push(redis.stop);
  env.REDIS_URL = redis.url;
  console.log(`tests use Redis at ${redis.url}${redis.spawned ? " (spawned)" : ""}`);
}

const report = join(dataDir, "junit.xml");
const started = performance.now();
const proc = Bun.spawn(
  ["bun", "test", "--timeout=60000", "--reporter=junit", `--reporter-outfile=${report}`, ...process.argv.slice(2)],
  {
    cwd: root,
    env,
    stdout: "inherit",
    stderr: "inherit",
  },
);
const code = await proc.exited;
for (const stop of stops.reverse()) await stop().catch(() => {});

const counts = summarize(report);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`\ntests finished in ${seconds} s`);
console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
process.exit(code !== 0 ? code : counts.failed > 0 || counts.passed === 0 ? 1 : 0);

function summarize(file: string): { passed: number; failed: number; skipped: number } {
  let xml = "";
  try {
    xml = readFileSync(file, "utf8");
  } catch {
    return { passed: 0, failed: 0, skipped: 0 };
  }
  const head = /<testsuites\b[^>]*>/.exec(xml)?.[0] ?? "";
  const attr = (name: string) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(head)?.[1] ?? 0);
  const tests = attr("tests");
  const failed = attr("failures") + attr("errors");
  const skipped = attr("skipped");
  return { passed: tests - failed - skipped, failed, skipped };
}
