import { createRedis, type Env, type Logger, type RedisClient, type RedisTarget } from "@conveyor/core";
import { AuditLog, createDb, type DbHandle, KeyStore, Ledger, NodeRegistry, ScheduleStore } from "@conveyor/db";
import { builtInTypes, TaskCatalog } from "@conveyor/handlers";
import { Dispatcher } from "./dispatch.ts";
import { EventPublisher } from "./events.ts";
import { Queues } from "./queues.ts";
import { Reconciler } from "./reconciler.ts";
import { ScheduleClock } from "./schedule/clock.ts";
import { Scheduler } from "./scheduler.ts";
import { Schedules } from "./schedules.ts";
import type { Services } from "./services.ts";

export interface RuntimeOptions {
  databaseUrl: string;
  redis: RedisTarget;
  queuePrefix: string;
  log: Logger;
  catalog?: TaskCatalog;
  /** Names the process in PostgreSQL and Redis client lists. */
  appName: string;
  dbPoolSize?: number;
  /** Run a reconciler in this process (one leader at a time across all of them). */
  reconcile?: { intervalMs: number; retentionDays: number; metricsRetentionDays?: number };
}

/** Everything a process needs to submit and track tasks, wired to real PostgreSQL and Redis. */
export interface Runtime {
  pg: DbHandle;
  ledger: Ledger;
  catalog: TaskCatalog;
  /** The fail-fast producer connection (no offline queue). */
  redis: RedisClient;
  dispatcher: Dispatcher;
  events: EventPublisher;
  scheduler: Scheduler;
  /** Recurring schedules (`/v1/schedules`); their ticks are handled by a `ScheduleTicker`. */
  schedules: Schedules;
  queues: Queues;
  nodes: NodeRegistry;
  audit: AuditLog;
  /** API keys and browser sessions. */
  keys: KeyStore;
  reconciler: Reconciler | null;
  close(): Promise<void>;
}

/** Opens connections and builds the domain services over them. */
export function createRuntime(opts: RuntimeOptions): Runtime {
  const pg = createDb(opts.databaseUrl, { appName: opts.appName, max: opts.dbPoolSize });
  const ledger = new Ledger(pg);
  const catalog = opts.catalog ?? new TaskCatalog();
  const redis = createRedis(opts.redis, "producer", `${opts.appName}-producer`);
  redis.on("error", (err) => opts.log.debug({ err: err.message }, "redis producer connection error"));
  const dispatcher = new Dispatcher(redis, opts.queuePrefix, opts.log);
  const events = new EventPublisher(redis, opts.queuePrefix, opts.log);
  const scheduler = new Scheduler({ ledger, catalog, dispatcher, events, log: opts.log });
  const queues = new Queues(ledger, catalog, dispatcher);
  const clock = new ScheduleClock(redis, opts.queuePrefix, opts.log);
  const schedules = new Schedules({
    store: new ScheduleStore(pg),
    catalog,
    dispatcher,
    events,
    clock,
    log: opts.log,
  });
  const reconciler = opts.reconcile
    ? new Reconciler({ pg, redis, dispatcher, events, log: opts.log, ...opts.reconcile })
    : null;
  reconciler?.start();
  return {
    nodes: new NodeRegistry(pg),
    audit: new AuditLog(pg),
    keys: new KeyStore(pg),
    reconciler,
    pg,
    queues,
    ledger,
    catalog,
    redis,
    dispatcher,
    events,
    scheduler,
    schedules,
    async close() {
      await reconciler?.stop();
      await Promise.allSettled([dispatcher.close(), events.close(), clock.close()]);
      redis.disconnect();
      await pg.close();
    },
  };
}

/**
 * The runtime an app process runs on, as the environment describes it. `reconcile: false` for a
 * process that only reads (the monitor): the api and worker processes already contend for the lead.
 */
export function createRuntimeFromEnv(
  env: Env,
  services: Services,
  log: Logger,
  appName: string,
  opts: { reconcile?: boolean } = {},
): Runtime {
  return createRuntime({
    databaseUrl: services.databaseUrl,
    redis: services.redis,
    queuePrefix: env.QUEUE_PREFIX,
    log,
    appName,
    reconcile:
      opts.reconcile === false
        ? undefined
        : {
            intervalMs: env.RECONCILE_INTERVAL_MS,
            retentionDays: env.TASK_RETENTION_DAYS,
            metricsRetentionDays: env.METRICS_RETENTION_DAYS,
          },
    catalog: new TaskCatalog(builtInTypes({ ssrfAllowHosts: env.SSRF_ALLOW_HOSTS })),
  });
}
