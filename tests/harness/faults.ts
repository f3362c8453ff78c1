/**
 * Parts for fault tests that act on real processes: a private redis-server and a private
 * PostgreSQL that a test may crash, pause or stop (never the shared ones), the api and worker
 * apps as child processes, a load generator over HTTP, and the ledger invariants.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, projectRoot, TASK_STATUSES } from "@conveyor/core";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "@conveyor/db/embedded";
import { Redis } from "ioredis";
import type postgres from "postgres";
import { childEnv } from "./apps.ts";
import { freePort } from "./ports.ts";
import { spawnRedisServer } from "./redis.ts";
import { eventually } from "./wait.ts";

/** Children die with the test process, however it ends (a crashed run must not leave servers behind). */
function killOnExit(proc: ReturnType<typeof Bun.spawn>): void {
  const kill = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  };
  process.on("exit", kill);
  void proc.exited.then(() => process.off("exit", kill));
}

/** A redis-server of a test's own on a fixed port; it keeps nothing on disk, so a restart starts empty. */
export class FaultRedis {
  readonly port = freePort();
  private proc: ReturnType<typeof Bun.spawn> | undefined;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = spawnRedisServer(this.port);
    killOnExit(this.proc);
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => {});
    try {
      await eventually(
        async () => {
          if (client.status !== "ready") await client.connect();
          return (await client.ping()) === "PONG";
        },
        { timeoutMs: 10_000, intervalMs: 50, what: `redis-server on port ${this.port}` },
      );
    } finally {
      client.disconnect();
    }
  }

  /** SIGKILL: everything in memory is gone. */
  async crash(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    p.kill("SIGKILL");
    await p.exited;
    this.proc = undefined;
  }

  /** SIGSTOP: connections stay open, nothing answers (a network partition, as clients see it). */
  pause(): void {
    this.proc?.kill("SIGSTOP");
  }

  resume(): void {
    this.proc?.kill("SIGCONT");
  }

  async stop(): Promise<void> {
    this.resume();
    await this.crash();
  }
}

/** An embedded PostgreSQL of a test's own, stopped and started again on the same port and data. */
export class FaultPostgres {
  readonly port = freePort();
  private server: EmbeddedPostgres | undefined;
  private constructor(private readonly dataRoot: string) {}

  static async create(): Promise<FaultPostgres> {
    const dataRoot = await mkdtemp(join(tmpdir(), "conveyor-faults-pg-"));
    // As root, the postgres user must be able to reach the folder (else it goes under /var/tmp).
    await chmod(dataRoot, 0o755);
    const pg = new FaultPostgres(dataRoot);
    await pg.start();
    return pg;
  }

  get url(): string {
    if (!this.server) throw new Error("the private PostgreSQL is not running");
    return this.server.url;
  }

  async start(): Promise<void> {
    this.server = await startEmbeddedPostgres({
      dataRoot: this.dataRoot,
      port: this.port,
      log: createLogger("fault-postgres", "silent"),
    });
  }

  /**
   * Stops the server, sets `postgresql.auto.conf` (what ALTER SYSTEM writes) to `settings`, and
   * starts it again: `{}` puts the defaults back. No connection is needed, so it works when the
   * server has no slot left to give.
   */
  async restartWith(settings: Record<string, string>): Promise<void> {
    const dataDir = this.server?.dataDir;
    if (!dataDir) throw new Error("the private PostgreSQL is not running");
    await this.stop();
    const lines = Object.entries(settings).map(([k, v]) => `${k} = '${v}'`);
    await writeFile(join(dataDir, "postgresql.auto.conf"), ["# set by the fault harness", ...lines, ""].join("\n"));
    await this.start();
  }

  /** A fast shutdown: open connections are cut, new ones are refused. */
  async stop(): Promise<void> {
    await this.server?.stop();
  }

  async destroy(): Promise<void> {
    await this.server?.stop().catch(() => {});
    await rm(this.dataRoot, { recursive: true, force: true });
  }
}

/**
 * The api or the worker app as a child process (`bun apps/<kind>/src/index.ts`) on its own port and
 * environment, its output in a file, that a test may kill and start again (unlike `spawnApp`, which
 * runs once against a TestStack).
 */
export class FaultApp {
  readonly port = freePort();
  private proc: ReturnType<typeof Bun.spawn> | undefined;
  private starts = 0;
  private logFile: string;

  constructor(
    readonly kind: "api" | "worker",
    private readonly env: Record<string, string>,
    private readonly logDir: string,
    readonly name: string = kind,
  ) {
    this.logFile = join(logDir, `${name}.log`);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts the process and waits until it answers `/healthz` (the worker serves it once its node has started). */
  async start(): Promise<void> {
    const env = childEnv({ ...this.env, [this.kind === "api" ? "API_PORT" : "WORKER_PORT"]: String(this.port) });
    // One log file per start: a restarted process does not overwrite what the last one said.
    this.logFile = join(this.logDir, `${this.name}${++this.starts > 1 ? `-${this.starts}` : ""}.log`);
    const proc = Bun.spawn(["bun", `apps/${this.kind}/src/index.ts`], {
      cwd: projectRoot(),
      env,
      stdin: "ignore",
      stdout: Bun.file(this.logFile),
      stderr: "inherit",
    });
    this.proc = proc;
    killOnExit(proc);
    await eventually(
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new StartFailed(`${this.name} exited (${proc.exitCode ?? proc.signalCode}): ${await this.logTail()}`);
        }
        const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) });
        return res.ok;
      },
      { timeoutMs: 45_000, intervalMs: 100, what: `the ${this.name} process to answer` },
    );
  }

  /** Sends a signal and waits for the process to end (SIGKILL: no goodbye of any kind). */
  async kill(signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    p.kill(signal);
    const timer = setTimeout(() => p.kill("SIGKILL"), 15_000);
    await p.exited;
    clearTimeout(timer);
  }

  /** The last lines the process logged (since its last start). */
  async logTail(lines = 30): Promise<string> {
    const text = await readFile(this.logFile, "utf8").catch(() => "");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** Log lines (pino JSON) since the last start that match `pattern`. */
  async logLines(pattern: RegExp): Promise<string[]> {
    const text = await readFile(this.logFile, "utf8").catch(() => "");
    return text.split("\n").filter((l) => pattern.test(l));
  }

  /** Log lines at `error` or above. */
  errorLines(): Promise<string[]> {
    return this.logLines(/"level":(50|60)\b/);
  }
}

/** A start that failed, with the process's last words. */
export class StartFailed extends Error {
  override name = "StartFailed";
}

/** What the load generator saw. */
export interface LoadReport {
  requests: number;
  /** Answers by status; `error` counts refused or dropped connections, `hung` requests with no answer in time. */
  statuses: Record<string, number>;
  accepted: number;
  maxLatencyMs: number;
}

export interface LoadOptions {
  apiUrl: () => string;
  key: string;
  /** Concurrent request loops. */
  concurrency: number;
  /** Tasks per request: 1 posts `/v1/tasks`, more post `/v1/tasks/batch`. */
  batchSize: number;
  /** Pause between one loop's requests. */
  pauseMs: number;
  /** The task each item is. */
  task: (i: number) => Record<string, unknown>;
  /** A request with no answer after this long counts as hung (default 15 s). */
  hangMs?: number;
}

/** Submits tasks over HTTP until stopped, keeping the id of every task answered 2xx. */
export class LoadGenerator {
  readonly accepted = new Set<string>();
  private readonly statuses: Record<string, number> = {};
  private requests = 0;
  private maxLatencyMs = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private seq = 0;

  constructor(private readonly opts: LoadOptions) {}

  start(): this {
    this.running = true;
    this.loops = Array.from({ length: this.opts.concurrency }, () => this.loop());
    return this;
  }

  /** Stops the loops and waits for requests in flight. */
  async stop(): Promise<LoadReport> {
    this.running = false;
    await Promise.all(this.loops);
    return this.report();
  }

  report(): LoadReport {
    return {
      requests: this.requests,
      statuses: { ...this.statuses },
      accepted: this.accepted.size,
      maxLatencyMs: Math.round(this.maxLatencyMs),
    };
  }

  private count(what: string): void {
    this.statuses[what] = (this.statuses[what] ?? 0) + 1;
  }

  private async loop(): Promise<void> {
    const { batchSize, key, pauseMs } = this.opts;
    const hangMs = this.opts.hangMs ?? 15_000;
    while (this.running) {
      const items = Array.from({ length: batchSize }, () => this.opts.task(this.seq++));
      const [path, body] = batchSize === 1 ? ["/v1/tasks", items[0]] : ["/v1/tasks/batch", { tasks: items }];
      const began = performance.now();
      this.requests++;
      try {
        const res = await fetch(`${this.opts.apiUrl()}${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(hangMs),
        });
        const json = (await res.json().catch(() => null)) as { id?: string; tasks?: { id: string }[] } | null;
        this.count(String(res.status));
        if (res.ok) {
          if (json?.id) this.accepted.add(json.id);
          for (const t of json?.tasks ?? []) this.accepted.add(t.id);
        }
      } catch (err) {
        this.count((err as Error).name === "TimeoutError" ? "hung" : "error");
      }
      this.maxLatencyMs = Math.max(this.maxLatencyMs, performance.now() - began);
      // After a refused connection, wait a little longer: the api may be restarting.
      await Bun.sleep(pauseMs);
    }
  }
}

/** What the ledger and Redis say after a fault; every list of ids must be empty. */
export interface InvariantReport {
  tasks: number;
  /** Accepted (2xx) tasks with no row. */
  missing: string[];
  /** Tasks (accepted or not) not in a final state. */
  notFinal: string[];
  /** Completed tasks without exactly one completed attempt, or other tasks with one. */
  badCompletions: string[];
  /** Attempts still `running` under a final task. */
  openAttempts: string[];
  /** Tasks whose `attempts` count differs from their attempt rows. */
  miscounted: string[];
  /** Job keys in Redis whose task has no row. */
  orphanJobs: string[];
  /** `GET /v1/tasks/summary` against `count(*) group by status`. */
  summaryMatches: boolean;
  summary: Record<string, number>;
  ledgerCounts: Record<string, number>;
}

/** Ledger and Redis statistics of a set of tasks: how often a handler started more than once, and why. */
export interface RunStats {
  tasks: number;
  completed: number;
  failed: number;
  /** Attempts closed as `stalled` (their node died, or their lock was lost). */
  stalledAttempts: number;
  /** Tasks whose handler was started more than once (an attempt row is opened before every start). */
  startedTwice: number;
}

const JOB_KEY = /^\{([A-Za-z0-9_-]+)\}:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:-r\d+)?$/;

/** Every task id that a job key under `prefix` names (`<prefix>:{type}:<jobId>`). */
export async function jobTaskIds(redisUrl: string, prefix: string): Promise<Set<string>> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  const ids = new Set<string>();
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:{*}:*`, "COUNT", 1000);
      cursor = next;
      for (const key of keys) {
        const m = JOB_KEY.exec(key.slice(prefix.length + 1));
        if (m?.[2]) ids.add(m[2]);
      }
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return ids;
}

/** `GET /v1/tasks/summary` of an api process, as `key`. */
export async function fetchSummary(apiUrl: string, key: string): Promise<Record<string, number>> {
  const res = await fetch(`${apiUrl}/v1/tasks/summary`, {
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`GET /v1/tasks/summary answered ${res.status}`);
  return (await res.json()) as Record<string, number>;
}

/** Checks the invariants of issue 10 over the whole ledger (every task, accepted or not). */
export async function checkInvariants(opts: {
  sql: postgres.Sql;
  redisUrl: string;
  prefix: string;
  accepted: Iterable<string>;
  /** What `GET /v1/tasks/summary` answers (as the admin: every tenant). */
  summary: () => Promise<Record<string, number>>;
}): Promise<InvariantReport> {
  const { sql } = opts;
  const accepted = [...opts.accepted];
  const missing = await sql<{ id: string }[]>`
    select a.id::text from unnest(${accepted}::uuid[]) as a(id) left join tasks t on t.id = a.id where t.id is null`;
  const notFinal = await sql<{ id: string }[]>`
    select id::text from tasks where status not in ('completed', 'failed', 'cancelled') order by id limit 100`;
  const badCompletions = await sql<{ id: string }[]>`
    select t.id::text from tasks t
      left join task_attempts a on a.task_id = t.id and a.outcome = 'completed'
     group by t.id, t.status
    having (t.status = 'completed') <> (count(a.n) = 1) or count(a.n) > 1
     limit 100`;
  const openAttempts = await sql<{ id: string }[]>`
    select distinct t.id::text from tasks t join task_attempts a on a.task_id = t.id
     where a.outcome = 'running' and t.status in ('completed', 'failed', 'cancelled') limit 100`;
  const miscounted = await sql<{ id: string }[]>`
    select t.id::text from tasks t left join task_attempts a on a.task_id = t.id
     group by t.id, t.attempts having count(a.n) <> t.attempts limit 100`;
  const ledgerRows = await sql<{ status: string; n: number }[]>`
    select status, count(*)::int as n from tasks group by status`;
  const ledgerCounts: Record<string, number> = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0]));
  for (const r of ledgerRows) ledgerCounts[r.status] = r.n;
  const summary = await opts.summary();
  const jobIds = [...(await jobTaskIds(opts.redisUrl, opts.prefix))];
  const orphans = await sql<{ id: string }[]>`
    select j.id::text from unnest(${jobIds}::uuid[]) as j(id) left join tasks t on t.id = j.id where t.id is null`;
  const [total] = await sql<{ n: number }[]>`select count(*)::int as n from tasks`;
  return {
    tasks: total?.n ?? 0,
    missing: missing.map((r) => r.id),
    notFinal: notFinal.map((r) => r.id),
    badCompletions: badCompletions.map((r) => r.id),
    openAttempts: openAttempts.map((r) => r.id),
    miscounted: miscounted.map((r) => r.id),
    orphanJobs: orphans.map((r) => r.id),
    summaryMatches: TASK_STATUSES.every((s) => summary[s] === ledgerCounts[s]),
    summary,
    ledgerCounts,
  };
}

/** Counts, over `ids`, outcomes and tasks whose handler started more than once. */
export async function runStats(sql: postgres.Sql, ids: Iterable<string>): Promise<RunStats> {
  const list = [...ids];
  const [row] = await sql<RunStats[]>`
    with t as (select id, status, attempts from tasks where id = any(${list}::uuid[]))
    select count(*)::int as tasks,
           count(*) filter (where status = 'completed')::int as completed,
           count(*) filter (where status = 'failed')::int as failed,
           (select count(*) from task_attempts a join t on t.id = a.task_id where a.outcome = 'stalled')::int
             as "stalledAttempts",
           count(*) filter (where attempts > 1)::int as "startedTwice"
      from t`;
  return row ?? { tasks: 0, completed: 0, failed: 0, stalledAttempts: 0, startedTwice: 0 };
}

/** Waits until every task in `ids` is final; returns how long that took. On timeout, says which are not. */
export async function waitAllFinal(
  sql: postgres.Sql,
  ids: Iterable<string>,
  opts: { timeoutMs: number; what: string },
): Promise<number> {
  const list = [...ids];
  const began = performance.now();
  const left = () => sql<{ id: string; type: string | null; status: string | null; attempts: number | null }[]>`
    select x.id::text, t.type, t.status, t.attempts from unnest(${list}::uuid[]) as x(id) left join tasks t on t.id = x.id
     where t.status is null or t.status not in ('completed', 'failed', 'cancelled')`;
  try {
    await eventually(async () => (await left()).length === 0, {
      timeoutMs: opts.timeoutMs,
      intervalMs: 200,
      what: opts.what,
    });
  } catch (err) {
    const rows = await left().catch(() => []);
    throw new Error(`${(err as Error).message}; ${rows.length} not final, e.g. ${JSON.stringify(rows.slice(0, 5))}`);
  }
  return Math.round(performance.now() - began);
}
