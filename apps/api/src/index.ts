import { createLogger, dataDir, onShutdown, parseEnv, projectRoot, resolveAdminKey, waitReady } from "@conveyor/core";
import { createRuntimeFromEnv, resolveServices } from "@conveyor/scheduler";
import { apiDepsFromRuntime, createApp } from "./app.ts";

// The api process: read env, wire real dependencies, serve.
const env = parseEnv();
const log = createLogger("api", env.LOG_LEVEL);
const root = projectRoot();
const services = await resolveServices(env, log, dataDir(env, root));
const admin = resolveAdminKey(env.ADMIN_API_KEY, dataDir(env, root));
const runtime = createRuntimeFromEnv(env, services, log, "conveyor-api");
await waitReady(runtime.redis, 10_000).catch(() =>
  log.warn("Redis is not answering yet; submissions will be kept for the reconciler"),
);

const app = createApp(
  apiDepsFromRuntime(runtime, {
    adminKey: admin.key,
    log,
    maxBodyBytes: env.MAX_BODY_BYTES,
    corsOrigins: env.CORS_ORIGINS,
    metricsEnabled: env.METRICS_ENABLED,
    scalingTargetDrainS: env.SCALING_TARGET_DRAIN_S,
  }),
);

const server = Bun.serve({
  port: env.API_PORT,
  hostname: "0.0.0.0",
  fetch: app.fetch,
  // Bun would refuse a larger body with an empty 413 of its own; ours (in the contract's
  // shape) comes from the body guard, which reads at most MAX_BODY_BYTES.
  maxRequestBodySize: Math.max(env.MAX_BODY_BYTES * 64, 256 * 1024 * 1024),
});
log.info({ url: `http://127.0.0.1:${server.port}` }, "api listening");
if (admin.generated) console.log(`admin API key (kept in ${admin.file}): ${admin.key}`);

// On SIGTERM/SIGINT: take no new connection, answer the requests in flight (a long poll holds
// at most 30 s), then close. A request still open after SHUTDOWN_GRACE_MS is cut.
onShutdown({
  name: "api",
  log,
  graceMs: env.SHUTDOWN_GRACE_MS,
  stop: async () => {
    const cut = setTimeout(() => void server.stop(true), env.SHUTDOWN_GRACE_MS);
    await server.stop();
    clearTimeout(cut);
    await runtime.close();
    await services.stop();
    log.info("api stopped");
  },
});
