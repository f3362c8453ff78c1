import { createLogger, dataDir, onShutdown, parseEnv, projectRoot, resolveAdminKey } from "@conveyor/core";
import { createAuthenticator, createRuntimeFromEnv, resolveServices } from "@conveyor/scheduler";
import { createMonitor } from "./app.ts";

// The monitor process: read env, wire real dependencies, serve.
const env = parseEnv();
const log = createLogger("monitor", env.LOG_LEVEL);
const root = projectRoot();
const services = await resolveServices(env, log, dataDir(env, root));
const admin = resolveAdminKey(env.ADMIN_API_KEY, dataDir(env, root));
// The monitor only reads keys and metrics: it leaves reconciling to the api and worker processes.
const runtime = createRuntimeFromEnv(env, services, log, "conveyor-monitor", { reconcile: false });

const monitor = createMonitor({
  authenticator: createAuthenticator({ keys: runtime.keys, adminKey: admin.key }),
  redis: services.redis,
  queuePrefix: env.QUEUE_PREFIX,
  apiUrl: env.API_URL ?? `http://127.0.0.1:${env.API_PORT}`,
  metrics: (tenant) => runtime.scheduler.metrics({ tenant, window: "1m" }),
  log,
  metricsEnabled: env.METRICS_ENABLED,
  allowedOrigins: env.CORS_ORIGINS,
});

const server = Bun.serve({
  port: env.MONITOR_PORT,
  hostname: "0.0.0.0",
  fetch: monitor.app.fetch,
  websocket: monitor.websocket,
  // SSE streams stay open; Bun's default idle timeout would cut them between keep-alive comments.
  idleTimeout: 0,
});
log.info({ url: `http://127.0.0.1:${server.port}` }, "monitor listening");

// On SIGTERM/SIGINT: take no new connection, end every SSE and WebSocket stream (clients
// reconnect to another instance and resume with Last-Event-ID), answer the proxied requests in
// flight, then close. A request still open after SHUTDOWN_GRACE_MS is cut.
onShutdown({
  name: "monitor",
  log,
  graceMs: env.SHUTDOWN_GRACE_MS,
  stop: async () => {
    const cut = setTimeout(() => void server.stop(true), env.SHUTDOWN_GRACE_MS);
    // Stop accepting first: a stream opened after the streams were ended would hold the server open.
    const stopped = server.stop();
    await monitor.close();
    await stopped;
    clearTimeout(cut);
    await runtime.close();
    await services.stop();
    log.info("monitor stopped");
  },
});
