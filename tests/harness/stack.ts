import { apiDepsFromRuntime, createApp } from "@conveyor/api";
import { createLogger, type RedisTarget, waitReady } from "@conveyor/core";
import type { TaskCatalog } from "@conveyor/handlers";
import { createRuntime, Reconciler, type ReconcilerDeps, type Runtime, ScheduleTicker } from "@conveyor/scheduler";
import { createWorkerNode, type WorkerNode } from "@conveyor/worker";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import { deletePrefix, testPrefix } from "./redis.ts";
import { testServices } from "./services.ts";

export const TEST_ADMIN_KEY = "test-admin-key-0123456789";

export interface StackOptions {
  label?: string;
  catalog?: TaskCatalog;
  lockMs?: number;
  /** A Redis of the suite's own (e.g. a private redis-server it may FLUSHALL); default: the shared one. */
  redisUrl?: string;
  /** Seed nodes (`host:port`) of a Redis Cluster: every connection of the stack is then a `Cluster`. */
  clusterNodes?: string[];
}

/** A whole Conveyor built through the apps' factories on a suite's own database and prefix. */
export interface TestStack {
  db: TestDatabase;
  prefix: string;
  redis: RedisTarget;
  runtime: Runtime;
  app: ReturnType<typeof createApp>;
  nodes: WorkerNode[];
  /** Calls the API in process, as the bootstrap admin unless `key` is given. */
  request(method: string, path: string, body?: unknown, key?: string | null): Promise<Response>;
  /** Starts one more worker node (its own connections, as a separate machine would have). */
  /** A reconciler over this stack (not started: tests call `runOnce`); it is stopped by `close()`. */
  reconciler(overrides?: Partial<ReconcilerDeps>): Reconciler;
  /** Starts one more schedule ticker (what each worker process runs), closed by `close()`. */
  startTicker(): Promise<ScheduleTicker>;
  startNode(opts?: {
    types?: string[];
    concurrency?: Record<string, { min: number; max: number }>;
    heartbeatMs?: number;
  }): Promise<WorkerNode>;
  close(): Promise<void>;
}

const quiet = () => createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent");

/** Builds api + scheduler (+ worker nodes on demand) against real PostgreSQL and Redis. */
export async function createTestStack(opts: StackOptions = {}): Promise<TestStack> {
  const label = opts.label ?? "stack";
  const redisUrl = opts.redisUrl ?? (await testServices()).redisUrl;
  const db = await createTestDatabase(label);
  const prefix = testPrefix(label);
  const redis: RedisTarget = { url: redisUrl, clusterNodes: opts.clusterNodes ?? [] };
  const log = quiet();
  const runtime = createRuntime({
    databaseUrl: db.url,
    redis,
    queuePrefix: prefix,
    log,
    appName: `test-${label}`,
    catalog: opts.catalog,
  });
  // A cluster client knows its masters only once it has read the slot map: a test that starts
  // at once would find no masters, and submissions would be refused (left to the reconciler).
  if (redis.clusterNodes.length > 0) await waitReady(runtime.redis, 30_000);
  const app = createApp(apiDepsFromRuntime(runtime, { adminKey: TEST_ADMIN_KEY, log, maxBodyBytes: 1_048_576 }));
  const nodes: WorkerNode[] = [];
  const reconcilers: Reconciler[] = [];
  const tickers: ScheduleTicker[] = [];
  return {
    db,
    prefix,
    redis,
    runtime,
    app,
    nodes,
    request(method, path, body, key = TEST_ADMIN_KEY) {
      const headers: Record<string, string> = {};
      if (key !== null) headers.authorization = `Bearer ${key}`;
      if (body !== undefined) headers["content-type"] = "application/json";
      return Promise.resolve(
        app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
      );
    },
    async startNode(nodeOpts = {}) {
      const node = createWorkerNode({
        ledger: runtime.ledger,
        catalog: runtime.catalog,
        events: runtime.events,
        redis,
        queuePrefix: prefix,
        log,
        types: nodeOpts.types,
        concurrency: nodeOpts.concurrency,
        heartbeatMs: nodeOpts.heartbeatMs,
        lockMs: opts.lockMs ?? 30_000,
      });
      await node.start();
      nodes.push(node);
      return node;
    },
    async startTicker() {
      const ticker = new ScheduleTicker({ schedules: runtime.schedules, redis, queuePrefix: prefix, log });
      tickers.push(ticker);
      await ticker.start();
      return ticker;
    },
    reconciler(overrides = {}) {
      const r = new Reconciler({
        pg: runtime.pg,
        redis: runtime.redis,
        dispatcher: runtime.dispatcher,
        events: runtime.events,
        log,
        intervalMs: 1000,
        retentionDays: 30,
        // Nothing here is a submit in flight: reconcile rows as soon as they exist.
        minAgeMs: 0,
        ...overrides,
      });
      reconcilers.push(r);
      return r;
    },
    async close() {
      await Promise.allSettled(reconcilers.map((r) => r.stop()));
      await Promise.allSettled(tickers.map((t) => t.close()));
      await Promise.allSettled(nodes.map((n) => n.close(0)));
      await runtime.close();
      await deletePrefix(prefix, redis);
      await db.drop();
    },
  };
}
