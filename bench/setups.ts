import { createTestDatabase, deletePrefix, type TestDatabase } from "@conveyor/tests/harness";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import postgres, { type Sql } from "postgres";
import { Child } from "./children.ts";
import type { ApiProcessConfig, ChildStats, RawWorkerProcessConfig, WorkerProcessConfig } from "./messages.ts";

export const BENCH_ADMIN_KEY = "bench-admin-key-0123456789";

/** A queue prefix of a run's own. */
export function benchPrefix(label: string): string {
  return `bench-${label}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Progress of a run as the ledger tells it; times are epoch ms on PostgreSQL's clock. */
export interface LedgerProgress {
  total: number;
  finished: number;
  completed: number;
  lastFinishedAt: number | null;
  lastStartedAt: number | null;
}

/** Reads a scenario's ledger directly (one small pool of its own). */
export class LedgerProbe {
  private readonly sql: Sql;

  constructor(url: string) {
    this.sql = postgres(url, { max: 2, onnotice: () => {} });
  }

  /** PostgreSQL's clock in epoch ms, so start and end of a run are read on one clock. */
  async now(): Promise<number> {
    const [row] = await this.sql<{ ms: number }[]>`select (extract(epoch from clock_timestamp()) * 1000)::float8 as ms`;
    return row?.ms ?? Date.now();
  }

  async progress(): Promise<LedgerProgress> {
    const [row] = await this.sql<
      { total: number; finished: number; completed: number; lastFinished: number | null; lastStarted: number | null }[]
    >`
      select count(*)::int as total,
             count(*) filter (where status in ('completed', 'failed', 'cancelled'))::int as finished,
             count(*) filter (where status = 'completed')::int as completed,
             (extract(epoch from max(finished_at)) * 1000)::float8 as "lastFinished",
             (extract(epoch from max(started_at)) * 1000)::float8 as "lastStarted"
        from tasks`;
    return {
      total: row?.total ?? 0,
      finished: row?.finished ?? 0,
      completed: row?.completed ?? 0,
      lastFinishedAt: row?.lastFinished ?? null,
      lastStartedAt: row?.lastStarted ?? null,
    };
  }

  /** Waits until `n` tasks are final; throws with what it saw after `timeoutMs`. */
  async waitFinished(n: number, timeoutMs: number, intervalMs = 100): Promise<LedgerProgress> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const p = await this.progress();
      if (p.finished >= n) return p;
      if (performance.now() > deadline) {
        throw new Error(`only ${p.finished} of ${n} tasks finished in the ledger after ${timeoutMs} ms`);
      }
      await Bun.sleep(intervalMs);
    }
  }

  /** First attempt's start minus the task's creation, in ms, for every task not marked `warm`. */
  async submitToStartMs(): Promise<number[]> {
    const rows = await this.sql<{ ms: number }[]>`
      select (extract(epoch from a.started_at - t.created_at) * 1000)::float8 as ms
        from tasks t join task_attempts a on a.task_id = t.id and a.n = 1
       where t.payload->>'warm' is null`;
    return rows.map((r) => r.ms);
  }

  close(): Promise<void> {
    return this.sql.end({ timeout: 5 });
  }
}

/** A Conveyor of its own for one run: a fresh database and prefix, the api and a worker node in child processes. */
export class ConveyorSetup {
  api?: Child;
  worker?: Child;
  readonly ledger: LedgerProbe;
  private baseUrl = "";

  private constructor(
    readonly db: TestDatabase,
    readonly prefix: string,
    private readonly redisUrl: string,
  ) {
    this.ledger = new LedgerProbe(db.url);
  }

  static async open(label: string, redisUrl: string): Promise<ConveyorSetup> {
    const db = await createTestDatabase(`bench_${label}`);
    return new ConveyorSetup(db, benchPrefix(label), redisUrl);
  }

  async startApi(opts: Pick<ApiProcessConfig, "benchTypes"> = {}): Promise<Child> {
    const config: ApiProcessConfig = {
      databaseUrl: this.db.url,
      redisUrl: this.redisUrl,
      queuePrefix: this.prefix,
      adminKey: BENCH_ADMIN_KEY,
      ...opts,
    };
    this.api = await Child.start("api", "api-process.ts", config);
    this.baseUrl = `http://127.0.0.1:${await this.api.port()}`;
    return this.api;
  }

  async startWorker(opts: Pick<WorkerProcessConfig, "types" | "concurrency" | "benchTypes">): Promise<Child> {
    const config: WorkerProcessConfig = {
      databaseUrl: this.db.url,
      redisUrl: this.redisUrl,
      queuePrefix: this.prefix,
      ...opts,
    };
    this.worker = await Child.start("worker", "worker-process.ts", config);
    return this.worker;
  }

  /** Calls the api over HTTP as the bootstrap admin; throws unless the status is `expect`. */
  async call(method: string, path: string, body: string | undefined, expect: number): Promise<void> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${BENCH_ADMIN_KEY}`, "content-type": "application/json" },
      body,
    });
    if (res.status !== expect) {
      throw new Error(`${method} ${path}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    }
    await res.arrayBuffer();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.worker?.stop(), this.api?.stop()]);
    await this.ledger.close().catch(() => {});
    await deletePrefix(this.prefix).catch(() => {});
    await this.db.drop().catch((err) => console.error(`could not drop ${this.db.name}: ${(err as Error).message}`));
  }
}

/** Raw BullMQ for one run: a prefix and queue of its own, a producer here, workers in a child process. */
export class RawSetup {
  readonly prefix: string;
  readonly queueName: string;
  readonly queue: Queue;
  worker?: Child;
  private readonly connection: Redis;

  constructor(
    label: string,
    private readonly redisUrl: string,
  ) {
    this.prefix = benchPrefix(`raw-${label}`);
    this.queueName = label;
    this.connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.queue = new Queue(this.queueName, { connection: this.connection, prefix: this.prefix });
    this.queue.on("error", (err) => console.error("raw queue error", err.message));
  }

  async startWorker(opts: Omit<RawWorkerProcessConfig, "redisUrl" | "queuePrefix" | "queue">): Promise<Child> {
    const config: RawWorkerProcessConfig = {
      redisUrl: this.redisUrl,
      queuePrefix: this.prefix,
      queue: this.queueName,
      ...opts,
    };
    this.worker = await Child.start("raw-worker", "raw-worker-process.ts", config);
    return this.worker;
  }

  /** Waits until the workers have completed `n` jobs; answers their figures. */
  async waitCompleted(n: number, timeoutMs: number, intervalMs = 50): Promise<ChildStats> {
    const worker = this.worker;
    if (!worker) throw new Error("no raw worker started");
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const stats = await worker.stats();
      if ((stats.completed ?? 0) >= n) return stats;
      if (performance.now() > deadline) {
        throw new Error(`raw BullMQ completed only ${stats.completed} of ${n} jobs after ${timeoutMs} ms`);
      }
      await Bun.sleep(intervalMs);
    }
  }

  async close(): Promise<void> {
    await this.worker?.stop().catch(() => {});
    await this.queue.close().catch(() => {});
    this.connection.disconnect();
    await deletePrefix(this.prefix).catch(() => {});
  }
}
