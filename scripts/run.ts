/**
 * `bun run dev` (--watch) and `bun run start`: finds or starts PostgreSQL and Redis once,
 * applies migrations, then runs the api, a worker and the monitor as child processes and prints where
 * they are. Ctrl-C stops the children, then whatever this script started.
 */

import { createLogger, dataDir, parseEnv, projectRoot, resolveAdminKey } from "@conveyor/core";
import { recordRunningStack, resolveServices } from "@conveyor/scheduler";
import type { Subprocess } from "bun";
import { appEnv } from "./app-env.ts";

const watch = process.argv.includes("--watch");
const env = parseEnv();
const log = createLogger("conveyor", env.LOG_LEVEL);
const root = projectRoot();

const services = await resolveServices(env, log, dataDir(env, root));
const admin = resolveAdminKey(env.ADMIN_API_KEY, dataDir(env, root));
const apiPort = env.API_PORT === 0 ? freePort() : env.API_PORT;
const monitorPort = env.MONITOR_PORT === 0 ? freePort() : env.MONITOR_PORT;

const childEnv = appEnv(services, {
  ADMIN_API_KEY: admin.key,
  API_PORT: String(apiPort),
  MONITOR_PORT: String(monitorPort),
});
// So `bun run start:workers` beside this finds the embedded PostgreSQL (and a Redis found or
// started here). URLs the user gave are never written down: whoever runs it gives them again.
const forgetStack = env.DATABASE_URL
  ? () => {}
  : recordRunningStack(dataDir(env, root), {
      pid: process.pid,
      databaseUrl: services.databaseUrl,
      redisUrl: env.REDIS_URL ? undefined : childEnv.REDIS_URL,
    });

const apps = [
  { name: "api", entry: "apps/api/src/index.ts" },
  { name: "worker", entry: "apps/worker/src/index.ts" },
  { name: "monitor", entry: "apps/monitor/src/index.ts" },
];

const children: Subprocess[] = apps.map(({ name, entry }) => {
  const child = Bun.spawn(["bun", ...(watch ? ["--watch"] : []), entry], {
    cwd: root,
    env: childEnv,
    stdout: "inherit",
    stderr: "inherit",
  });
  void child.exited.then((code) => {
    if (!stopping) {
      log.error({ app: name, code }, "an app exited; stopping the rest");
      void stop(1);
    }
  });
  return child;
});

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill("SIGTERM");
  await Promise.race([Promise.all(children.map((c) => c.exited)), Bun.sleep(env.SHUTDOWN_GRACE_MS + 5000)]);
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  forgetStack();
  await services.stop();
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

await waitForReady(`http://127.0.0.1:${apiPort}/readyz`, 60_000);
const lines = [
  "",
  `Conveyor is running${watch ? " (watching for changes)" : ""}`,
  `  API     http://127.0.0.1:${apiPort}`,
  `  worker  http://127.0.0.1:${env.WORKER_PORT || "(a free port, see its log)"}/healthz`,
  `  monitor http://127.0.0.1:${monitorPort}`,
];
if (admin.generated) lines.push(`  admin API key (new; kept in ${admin.file}): ${admin.key}`);
else if (admin.file) lines.push(`  admin API key: in ${admin.file}`);
lines.push("  Ctrl-C stops everything.", "");
console.log(lines.join("\n"));

function freePort(): number {
  const s = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

async function waitForReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await Bun.sleep(200);
  }
  log.error({ url }, "the api did not become ready in time");
  await stop(1);
}
