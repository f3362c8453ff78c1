/**
 * Issue 10, "Nothing lost": real api and worker processes on a private redis-server and a
 * private PostgreSQL, under steady load, through one fault after another (each healed before
 * the next). After each, every accepted task is final in the ledger with the attempts it
 * should have. The in-process cases are in node-killed, outage, redis-flush and stalled; the
 * handler faults are in handler-faults. docs/guarantees.md has the numbers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runMigrations } from "@conveyor/db";
import postgres from "postgres";
import {
  checkInvariants,
  FaultApp,
  FaultPostgres,
  FaultRedis,
  fetchSummary,
  type InvariantReport,
  jobTaskIds,
  LoadGenerator,
  type LoadOptions,
  type LoadReport,
  type RunStats,
  runStats,
  waitAllFinal,
} from "../harness/faults.ts";
import { eventually, testPrefix } from "../harness/index.ts";

const KEY = "faults-under-load-admin-key-0123456789";
const LOCK_MS = 3000;
const DRAIN_MS = 90_000;
const PHASE_TIMEOUT_MS = 150_000;

/** Echo and short sleeps: every task is done within a second or so of starting. */
const mixedTask = (i: number) =>
  i % 3 === 0 ? { type: "echo", payload: { i } } : { type: "sleep", payload: { ms: 200 + ((i * 37) % 800) } };

interface PhaseResult {
  fault: string;
  accepted: number;
  load: LoadReport;
  stats: RunStats;
  recovery: Record<string, number>;
  /** Runs the schedule made during the phase (it ticks every second through every fault). */
  scheduleRuns: number;
}

describe("faults under load, real processes", () => {
  let dir: string;
  let pg: FaultPostgres;
  let redis: FaultRedis;
  let sql: postgres.Sql;
  let api: FaultApp;
  const workers: FaultApp[] = [];
  const prefix = testPrefix("load");
  const results: PhaseResult[] = [];
  let env: Record<string, string>;
  let workerSeq = 0;

  const newWorker = async (): Promise<FaultApp> => {
    const w = new FaultApp("worker", env, dir, `worker-${++workerSeq}`);
    await w.start();
    workers.push(w);
    return w;
  };
  const load = (opts: Partial<LoadOptions> = {}): LoadGenerator =>
    new LoadGenerator({
      apiUrl: () => api.url,
      key: KEY,
      concurrency: 3,
      batchSize: 5,
      pauseMs: 150,
      task: mixedTask,
      ...opts,
    }).start();
  const invariants = () =>
    checkInvariants({
      sql,
      redisUrl: redis.url,
      prefix,
      accepted: allAccepted,
      summary: () => fetchSummary(api.url, KEY),
    });
  const allAccepted = new Set<string>();
  // A schedule ticks every second through every phase: its runs are tasks like any other, and
  // one tick makes one task whatever fails. It is paused while a phase is checked (the checks
  // read a ledger at rest) and resumed after.
  let scheduleId = "";
  let phaseStarted = new Date();
  const schedule = async (action: "pause" | "resume") => {
    const res = await fetch(`${api.url}/v1/schedules/${scheduleId}/${action}`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}` },
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(200);
  };
  const nodeOf = async (w: FaultApp): Promise<string> =>
    eventually(async () => (await sql<{ id: string }[]>`select id from nodes where pid = ${w.pid ?? -1}`)[0]?.id, {
      what: `${w.name}'s node row`,
      timeoutMs: 10_000,
    });
  /**
   * Waits for the tasks of `gen` that are accepted and not final yet to finish; says how many
   * there were and how long after `since` (when the fault ended) the last one did.
   */
  const inFlightDone = async (
    gen: LoadGenerator,
    since: number,
    what: string,
  ): Promise<{ inFlight: number; inFlightFinalMs: number }> => {
    const inFlight = (
      await sql<{ id: string }[]>`
        select id::text from tasks where id = any(${[...gen.accepted]}::uuid[])
           and status not in ('completed', 'failed', 'cancelled')`
    ).map((r) => r.id);
    await waitAllFinal(sql, inFlight, { timeoutMs: 60_000, what });
    return { inFlight: inFlight.length, inFlightFinalMs: Math.round(performance.now() - since) };
  };

  /** Every invariant, with the ids that break it in the failure message. */
  const expectInvariants = (r: InvariantReport) => {
    expect({
      missing: r.missing,
      notFinal: r.notFinal,
      badCompletions: r.badCompletions,
      openAttempts: r.openAttempts,
      miscounted: r.miscounted,
      orphanJobs: r.orphanJobs,
    }).toEqual({ missing: [], notFinal: [], badCompletions: [], openAttempts: [], miscounted: [], orphanJobs: [] });
    expect(r.summary).toMatchObject(r.ledgerCounts);
    expect(r.summaryMatches).toBe(true);
  };

  /** Stops the load, waits for every task to be final, checks the invariants, keeps the numbers. */
  const finish = async (
    fault: string,
    gen: LoadGenerator,
    recovery: Record<string, number>,
  ): Promise<{ report: LoadReport; stats: RunStats }> => {
    const report = await gen.stop();
    for (const id of gen.accepted) allAccepted.add(id);
    await eventually(() => schedule("pause").then(() => true), { timeoutMs: 30_000, what: "the schedule to pause" });
    // A tick already taken when the pause landed may still add its run: let it.
    await Bun.sleep(1500);
    const all = (await sql<{ id: string }[]>`select id::text from tasks`).map((r) => r.id);
    await waitAllFinal(sql, all, { timeoutMs: DRAIN_MS, what: `every task to be final after: ${fault}` });
    expectInvariants(await invariants());
    const stats = await runStats(sql, gen.accepted);
    const [runs] = await sql<{ n: number }[]>`
      select count(*)::int as n from tasks where schedule_id = ${scheduleId}::uuid and created_at >= ${phaseStarted}`;
    results.push({ fault, accepted: gen.accepted.size, load: report, stats, recovery, scheduleRuns: runs?.n ?? 0 });
    await schedule("resume");
    phaseStarted = new Date();
    return { report, stats };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "conveyor-faults-"));
    [pg, redis] = await Promise.all([FaultPostgres.create(), Promise.resolve(new FaultRedis())]);
    await redis.start();
    await runMigrations(pg.url);
    sql = postgres(pg.url, { max: 4, onnotice: () => {} });
    env = {
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      REDIS_CLUSTER_NODES: "",
      QUEUE_PREFIX: prefix,
      ADMIN_API_KEY: KEY,
      MIGRATE_ON_START: "false",
      JOB_LOCK_MS: String(LOCK_MS),
      RECONCILE_INTERVAL_MS: "1000",
      SHUTDOWN_GRACE_MS: "2000",
      WORKER_CONCURRENCY: "sleep=40,echo=40",
      LOG_LEVEL: "warn",
    };
    api = new FaultApp("api", env, dir);
    await Promise.all([api.start(), newWorker(), newWorker()]);
    const created = await fetch(`${api.url}/v1/schedules`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "faults-tick", everyMs: 1000, task: { type: "echo", payload: { tick: true } } }),
    });
    expect(created.status).toBe(201);
    scheduleId = ((await created.json()) as { id: string }).id;
    phaseStarted = new Date();
  }, 120_000);

  afterAll(async () => {
    for (const r of results) console.log(`[faults under load] ${JSON.stringify(r)}`);
    // What the processes logged at error level, for whoever reads a failed run.
    for (const p of [api, ...workers]) {
      const lines = (await p?.errorLines().catch(() => [])) ?? [];
      if (lines.length)
        console.log(`[faults under load] ${p.name}: ${lines.length} error lines\n${lines.slice(0, 10).join("\n")}`);
    }
    if (process.env.KEEP_FAULT_LOGS) console.log(`[faults under load] logs kept in ${dir}`);
    await Promise.allSettled([api?.kill("SIGTERM"), ...workers.map((w) => w.kill("SIGTERM"))]);
    await sql?.end({ timeout: 2 });
    await redis?.stop();
    await pg?.destroy();
    if (dir && !process.env.KEEP_FAULT_LOGS) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  test(
    "a worker killed with SIGKILL mid-task: its attempts close as stalled and other nodes finish its tasks within about JOB_LOCK_MS",
    async () => {
      const victim = workers[0] as FaultApp;
      const node = await nodeOf(victim);
      const gen = load();
      // Under load, with tasks of its own running.
      const orphans = await eventually(
        async () => {
          const rows = await sql<{ id: string }[]>`
            select id::text from tasks where status = 'running' and node = ${node}`;
          return rows.length >= 5 ? rows.map((r) => r.id) : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: "the worker to be running tasks" },
      );
      await victim.kill("SIGKILL");
      const killedAt = performance.now();
      // Every attempt the dead node held is closed (as stalled, by the node that takes the task next).
      await eventually(
        async () =>
          (
            await sql<{ n: number }[]>`
            select count(*)::int as n from task_attempts where node = ${node} and outcome = 'running'`
          )[0]?.n === 0,
        { timeoutMs: 60_000, intervalMs: 100, what: "the dead node's attempts to close" },
      );
      const reclaimedMs = Math.round(performance.now() - killedAt);
      await waitAllFinal(sql, orphans, { timeoutMs: 60_000, what: "the dead node's tasks to finish elsewhere" });
      const orphansFinalMs = Math.round(performance.now() - killedAt);
      await newWorker();
      await Bun.sleep(2000);
      const { stats } = await finish("worker SIGKILL mid-task", gen, {
        reclaimedMs,
        orphansFinalMs,
        orphans: orphans.length,
      });

      const closed = await sql<{ outcome: string; n: number }[]>`
        select outcome, count(*)::int as n from task_attempts where node = ${node} group by outcome`;
      expect(closed.find((c) => c.outcome === "running")).toBeUndefined();
      // Orphans that were still running at the kill (not done in the instant before it) stalled.
      expect(closed.find((c) => c.outcome === "stalled")?.n ?? 0).toBeGreaterThan(0);
      expect(stats.stalledAttempts).toBeGreaterThan(0);
    },
    PHASE_TIMEOUT_MS,
  );

  test(
    "Redis restarted with nothing kept: the reconciler puts every lost job back from the ledger",
    async () => {
      const gen = load();
      await Bun.sleep(3000);
      // A backlog for Redis to forget: a burst beyond what the workers take at once, and delayed jobs.
      const burst = [
        ...Array.from({ length: 200 }, (_, i) => ({ type: "sleep", payload: { ms: 300 + i } })),
        ...Array.from({ length: 100 }, (_, i) => ({ type: "echo", payload: { i }, delayMs: 1500 })),
      ];
      const res = await fetch(`${api.url}/v1/tasks/batch`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ tasks: burst }),
      });
      expect(res.status).toBe(202);
      for (const t of ((await res.json()) as { tasks: { id: string }[] }).tasks) gen.accepted.add(t.id);
      const jobsLost = (await jobTaskIds(redis.url, prefix)).size;
      await redis.crash();
      await redis.start();
      const restartedAt = performance.now();
      // Accepted and not final yet: queued jobs Redis forgot, and attempts running through the restart.
      const recovered = await inFlightDone(gen, restartedAt, "the tasks Redis forgot to finish");
      await Bun.sleep(2000);
      const { report } = await finish("Redis restarted empty", gen, { jobsLost, ...recovered });
      expect(jobsLost).toBeGreaterThan(100);
      expect(report.statuses.hung ?? 0).toBe(0);
    },
    PHASE_TIMEOUT_MS,
  );

  test(
    "Redis unreachable for 10 s (SIGSTOP): submissions still answer, and every task finishes once it is back",
    async () => {
      const gen = load();
      await Bun.sleep(3000);
      redis.pause();
      const during = gen.report().requests;
      await Bun.sleep(10_000);
      const requestsDuring = gen.report().requests - during;
      redis.resume();
      const resumedAt = performance.now();
      // Accepted and not final yet, most of them submitted while Redis was silent.
      const recovered = await inFlightDone(gen, resumedAt, "the tasks in flight to finish");
      await Bun.sleep(2000);
      const { report } = await finish("Redis unreachable 10 s", gen, {
        ...recovered,
        requestsDuringOutage: requestsDuring,
      });
      // The api answered while Redis was silent (a submit is kept in the ledger for the reconciler).
      expect(requestsDuring).toBeGreaterThan(0);
      expect(recovered.inFlight).toBeGreaterThan(0);
      expect(report.statuses.hung ?? 0).toBe(0);
    },
    PHASE_TIMEOUT_MS,
  );

  test(
    "PostgreSQL stopped for 5 s: the api answers 503 without hanging; workers hold their jobs until the ledger write is in",
    async () => {
      const gen = load();
      await Bun.sleep(3000);
      const before = gen.report();
      await pg.stop();
      await Bun.sleep(5000);
      await pg.start();
      const startedAt = performance.now();
      const during = gen.report();
      // Accepted and not final yet: attempts that ended while the ledger was away, waiting to be written.
      const recovered = await inFlightDone(gen, startedAt, "the tasks in flight to finish");
      await Bun.sleep(2000);
      const { report, stats } = await finish("PostgreSQL stopped 5 s", gen, {
        ...recovered,
        answers503: (during.statuses["503"] ?? 0) - (before.statuses["503"] ?? 0),
      });
      expect((during.statuses["503"] ?? 0) - (before.statuses["503"] ?? 0)).toBeGreaterThan(0);
      expect(report.statuses.hung ?? 0).toBe(0);
      // The lock was renewed throughout: no job went back to another node, nothing ran twice.
      expect(stats.stalledAttempts).toBe(0);
      // Handlers did finish during the outage, and their nodes kept retrying the ledger write.
      const retried = await Promise.all(workers.filter((w) => w.running).map((w) => w.logLines(/"what":"complete"/)));
      expect(retried.flat().length).toBeGreaterThan(0);
    },
    PHASE_TIMEOUT_MS,
  );

  test(
    "PostgreSQL out of connection slots (too many clients): the api answers 503, never 500; workers wait for a slot",
    async () => {
      const setSlots = async (n: number | null) => {
        await pg.restartWith(n === null ? {} : { max_connections: String(n) });
      };
      const gen = load();
      await Bun.sleep(2000);
      // Fewer slots than the processes' pools want: connects beyond them fail with 53300.
      await setSlots(8);
      await Bun.sleep(8000);
      await setSlots(null);
      const healedAt = performance.now();
      const recovered = await inFlightDone(gen, healedAt, "the tasks in flight to finish");
      await Bun.sleep(1000);
      const refused = await Promise.all(workers.filter((w) => w.running).map((w) => w.logLines(/too many clients/)));
      const { report, stats } = await finish("PostgreSQL out of connection slots 8 s", gen, {
        ...recovered,
        workerLinesTooManyClients: refused.flat().length,
      });
      expect(report.statuses["500"] ?? 0).toBe(0);
      expect(report.statuses.hung ?? 0).toBe(0);
      // A refused connect is waited out like an outage: no job was given up and run again.
      expect(stats.stalledAttempts).toBe(0);
    },
    PHASE_TIMEOUT_MS,
  );

  test(
    "the api killed mid-batch: what it accepted runs, and what it committed without answering runs too",
    async () => {
      const since = (await sql<{ since: string }[]>`select now()::text as since`)[0]?.since ?? "";
      const gen = load({
        batchSize: 200,
        concurrency: 3,
        pauseMs: 50,
        task: (i) => ({ type: "echo", payload: { i } }),
      });
      await eventually(() => gen.report().accepted >= 400, { timeoutMs: 30_000, what: "batches to be accepted" });
      await api.kill("SIGKILL");
      const cut = gen.report().statuses.error ?? 0;
      await api.start();
      await Bun.sleep(2000);
      const { report } = await finish("api SIGKILL mid-batch", gen, {});
      const phase = await sql<
        { id: string }[]
      >`select id::text from tasks where created_at >= ${since}::timestamptz and schedule_id is null`;
      const unanswered = phase.filter((r) => !gen.accepted.has(r.id)).length;
      const last = results.at(-1);
      if (last) last.recovery = { requestsCut: report.statuses.error ?? 0, committedUnanswered: unanswered };
      // A batch was in flight when the process died.
      expect(Math.max(cut, report.statuses.error ?? 0)).toBeGreaterThan(0);
      // All or nothing per batch: a committed batch is whole (200 tasks), whether or not it was answered.
      expect(unanswered % 200).toBe(0);
    },
    PHASE_TIMEOUT_MS,
  );

  test("the schedule ticked through every fault: runs in each phase, one task per tick, every run final", async () => {
    expect(results.length).toBeGreaterThan(0);
    for (const r of results)
      expect({ fault: r.fault, runs: r.scheduleRuns > 0 }).toEqual({ fault: r.fault, runs: true });
    const [runs] = await sql<{ total: number; ticks: number; final: number }[]>`
      select count(*)::int as total, count(distinct scheduled_for)::int as ticks,
             count(*) filter (where status in ('completed', 'failed', 'cancelled'))::int as final
        from tasks where schedule_id = ${scheduleId}::uuid`;
    expect(runs?.total).toBeGreaterThan(0);
    expect(runs?.ticks).toBe(runs?.total);
    expect(runs?.final).toBe(runs?.total);
  });
});
