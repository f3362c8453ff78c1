import { uuidv7Floor } from "@conveyor/core";
import { DDSketch } from "@datadog/sketches-js";
import type { DbHandle } from "./client.ts";
import { NODE_LOST_AFTER_MS } from "./nodes.ts";

/** Quantiles read from a sketch are within 1% of the true value (relative). */
export const SKETCH_RELATIVE_ACCURACY = 0.01;

/** `{avg, min, max, p50, p95, p99}` of a set of durations in ms; all null when it is empty. */
export interface TimeSummary {
  avg: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

const EMPTY_SUMMARY: TimeSummary = { avg: null, min: null, max: null, p50: null, p95: null, p99: null };

/** Three decimals: sub-microsecond digits of a 1%-accurate estimate are noise. */
const round = (v: number) => Math.round(v * 1000) / 1000;

/**
 * Durations as count, sum, min, max and a DDSketch. Sketches merge exactly (bin counts add up),
 * so quantiles over any window are those of every value in it, not averages of per-minute ones.
 */
export class Distribution {
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  private sketch: DDSketch | null = null;

  accept(ms: number): void {
    const v = Math.max(0, ms);
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.sketchOf().accept(v);
  }

  merge(other: Distribution): void {
    if (other.count === 0) return;
    this.count += other.count;
    this.sum += other.sum;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    if (other.sketch) this.sketchOf().merge(other.sketch);
  }

  /** The sketch as stored (protobuf; it carries bins only, so count, sum, min and max have their own columns). */
  encode(): Uint8Array | null {
    return this.count === 0 || !this.sketch ? null : this.sketch.toProto();
  }

  /** Rebuilds a stored distribution. */
  static decode(count: number, sum: number, min: number | null, max: number | null, sketch: Uint8Array | null) {
    const d = new Distribution();
    if (count === 0) return d;
    d.count = count;
    d.sum = sum;
    d.min = min ?? 0;
    d.max = max ?? 0;
    if (sketch) d.sketch = DDSketch.fromProto(sketch);
    return d;
  }

  summary(): TimeSummary {
    if (this.count === 0) return { ...EMPTY_SUMMARY };
    // A sketch's estimate can fall a bin beyond the extremes it came from: keep it within them.
    const q = (p: number) => {
      const v = this.sketch?.getValueAtQuantile(p);
      return round(v === undefined || Number.isNaN(v) ? this.max : Math.min(this.max, Math.max(this.min, v)));
    };
    return {
      avg: round(this.sum / this.count),
      min: round(this.min),
      max: round(this.max),
      p50: q(0.5),
      p95: q(0.95),
      p99: q(0.99),
    };
  }

  private sketchOf(): DDSketch {
    this.sketch ??= new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    return this.sketch;
  }
}

/** What the attempts of one (tenant, type, minute) did, as one node saw them, or merged. */
export class MetricRollup {
  /** Attempts that ended, any outcome. */
  ended = 0;
  /** Tasks that reached `completed` / `failed` when an attempt ended. */
  completed = 0;
  failed = 0;
  /** Attempts that ended `timed_out`. */
  timedOut = 0;
  /** Attempt start to end, of attempts that ended. */
  readonly run = new Distribution();
  /** Due (or enqueued) to attempt start, of attempts that started. */
  readonly wait = new Distribution();

  merge(other: MetricRollup): void {
    this.ended += other.ended;
    this.completed += other.completed;
    this.failed += other.failed;
    this.timedOut += other.timedOut;
    this.run.merge(other.run);
    this.wait.merge(other.wait);
  }
}

/** A rollup and the row it belongs to. `minute` is the start of the minute. */
export interface RollupEntry {
  minute: Date;
  tenant: string;
  type: string;
  rollup: MetricRollup;
}

/** Tasks waiting to start (queued, or delayed and now due) and running, per type. */
export interface Backlog {
  pending: number;
  running: number;
}

interface StoredRow {
  minuteMs: number;
  tenant: string;
  type: string;
  ended: number;
  completed: number;
  failed: number;
  timedOut: number;
  runSum: number;
  runMin: number | null;
  runMax: number | null;
  runSketch: string | null;
  started: number;
  waitSum: number;
  waitMin: number | null;
  waitMax: number | null;
  waitSketch: string | null;
}

const finite = (v: number) => (Number.isFinite(v) ? v : null);
const base64 = (b: Uint8Array | null) => (b ? Buffer.from(b).toString("base64") : null);
const bytes = (s: string | null) => (s ? new Uint8Array(Buffer.from(s, "base64")) : null);

/** Per-minute task metrics in PostgreSQL (`metric_rollups`): what worker nodes write and `GET /v1/metrics` reads. */
export class MetricsStore {
  constructor(private readonly pg: DbHandle) {}

  /**
   * Writes a node's rollups whole, in one statement. Each row holds everything the node saw in
   * that minute so far, so a row written again simply replaces the earlier version.
   */
  async write(node: string, entries: RollupEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const col = <T>(f: (e: RollupEntry) => T) => entries.map(f);
    const { sql } = this.pg;
    // Sketches travel as base64 text, so every column of the batch is one plain typed array parameter.
    await sql`
      insert into metric_rollups (minute, tenant, type, node, ended, completed, failed, timed_out,
                                  run_sum, run_min, run_max, run_sketch, started, wait_sum, wait_min, wait_max, wait_sketch)
      select minute::timestamptz, tenant, type, ${node}, ended, completed, failed, timed_out,
             run_sum, run_min, run_max, decode(run_sketch, 'base64'), started, wait_sum, wait_min, wait_max,
             decode(wait_sketch, 'base64')
        from unnest(
          ${col((e) => e.minute.toISOString())}::text[], ${col((e) => e.tenant)}::text[], ${col((e) => e.type)}::text[],
          ${col((e) => e.rollup.ended)}::int[], ${col((e) => e.rollup.completed)}::int[],
          ${col((e) => e.rollup.failed)}::int[], ${col((e) => e.rollup.timedOut)}::int[],
          ${col((e) => e.rollup.run.sum)}::float8[], ${col((e) => finite(e.rollup.run.min))}::float8[],
          ${col((e) => finite(e.rollup.run.max))}::float8[], ${col((e) => base64(e.rollup.run.encode()))}::text[],
          ${col((e) => e.rollup.wait.count)}::int[], ${col((e) => e.rollup.wait.sum)}::float8[],
          ${col((e) => finite(e.rollup.wait.min))}::float8[], ${col((e) => finite(e.rollup.wait.max))}::float8[],
          ${col((e) => base64(e.rollup.wait.encode()))}::text[]
        ) as i(minute, tenant, type, ended, completed, failed, timed_out, run_sum, run_min, run_max, run_sketch,
               started, wait_sum, wait_min, wait_max, wait_sketch)
      on conflict (minute, tenant, type, node) do update set
        ended = excluded.ended, completed = excluded.completed, failed = excluded.failed,
        timed_out = excluded.timed_out, run_sum = excluded.run_sum, run_min = excluded.run_min,
        run_max = excluded.run_max, run_sketch = excluded.run_sketch, started = excluded.started,
        wait_sum = excluded.wait_sum, wait_min = excluded.wait_min, wait_max = excluded.wait_max,
        wait_sketch = excluded.wait_sketch`;
  }

  /**
   * Rollups of minutes in `[since, until)`, every node's rows merged into one per (minute,
   * tenant, type); with `tenant`, only that tenant's.
   */
  async read(q: { tenant: string | null; since: Date; until: Date }): Promise<RollupEntry[]> {
    const { sql } = this.pg;
    const rows = await sql<StoredRow[]>`
      select (extract(epoch from minute) * 1000)::float8 as "minuteMs", tenant, type, ended, completed, failed,
             timed_out as "timedOut", run_sum as "runSum", run_min as "runMin", run_max as "runMax",
             encode(run_sketch, 'base64') as "runSketch", started, wait_sum as "waitSum", wait_min as "waitMin",
             wait_max as "waitMax", encode(wait_sketch, 'base64') as "waitSketch"
        from metric_rollups
       where minute >= ${q.since.toISOString()}::timestamptz and minute < ${q.until.toISOString()}::timestamptz
         ${q.tenant === null ? sql`` : sql`and tenant = ${q.tenant}`}`;
    const merged = new Map<string, RollupEntry>();
    for (const r of rows) {
      const rollup = new MetricRollup();
      rollup.ended = r.ended;
      rollup.completed = r.completed;
      rollup.failed = r.failed;
      rollup.timedOut = r.timedOut;
      rollup.run.merge(Distribution.decode(r.ended, r.runSum, r.runMin, r.runMax, bytes(r.runSketch)));
      rollup.wait.merge(Distribution.decode(r.started, r.waitSum, r.waitMin, r.waitMax, bytes(r.waitSketch)));
      const key = `${r.minuteMs}\u0000${r.tenant}\u0000${r.type}`;
      const seen = merged.get(key);
      if (seen) seen.rollup.merge(rollup);
      else merged.set(key, { minute: new Date(r.minuteMs), tenant: r.tenant, type: r.type, rollup });
    }
    return [...merged.values()];
  }

  /** Per type, tasks waiting to start (queued, or delayed and due by now) and running, in the ledger. */
  async backlog(tenant: string | null): Promise<Map<string, Backlog>> {
    const { sql } = this.pg;
    const rows = await sql<{ type: string; pending: number; running: number }[]>`
      select type,
             count(*) filter (where status in ('queued', 'delayed') and due_at <= now())::int as pending,
             count(*) filter (where status = 'running')::int as running
        from tasks
       where status in ('queued', 'delayed', 'running')
         ${tenant === null ? sql`` : sql`and tenant = ${tenant}`}
       group by type`;
    return new Map(rows.map((r) => [r.type, { pending: r.pending, running: r.running }]));
  }

  /**
   * Per type, tasks waiting to start (queued, or delayed and due by now), every tenant. Read
   * through the partial index of waiting tasks, so an autoscaler polling it never scans the table.
   */
  async pendingByType(): Promise<Map<string, number>> {
    const { sql } = this.pg;
    const rows = await sql<{ type: string; pending: number }[]>`
      select type, count(*)::int as pending
        from tasks
       where status in ('queued', 'delayed') and due_at <= now()
       group by type`;
    return new Map(rows.map((r) => [r.type, r.pending]));
  }

  /**
   * Per type, tasks submitted at or after `since`, every tenant. Task ids are UUIDv7: the
   * primary key's range from the floor id of `since` holds exactly those.
   */
  async submittedByType(since: Date): Promise<Map<string, number>> {
    const { sql } = this.pg;
    const rows = await sql<{ type: string; n: number }[]>`
      select type, count(*)::int as n
        from tasks
       where id >= ${uuidv7Floor(since)}::uuid
       group by type`;
    return new Map(rows.map((r) => [r.type, r.n]));
  }

  /** The task types of each worker node heard from within the last 15 s (`up` in `GET /v1/nodes`). */
  async activeNodes(): Promise<string[][]> {
    const { sql } = this.pg;
    const rows = await sql<{ types: string[] }[]>`
      select types from nodes
       where last_seen_at > now() - make_interval(secs => ${NODE_LOST_AFTER_MS / 1000}::float8)`;
    return rows.map((r) => r.types);
  }

  /** Deletes up to `limit` rollups of minutes over `olderThanMs` ago; returns how many. */
  async prune(olderThanMs: number, limit: number): Promise<number> {
    const { sql } = this.pg;
    const cutoff = new Date(Date.now() - olderThanMs).toISOString();
    // ctid batches: the primary key leads with `minute`, so the inner scan is a range of it.
    const result = await sql`
      delete from metric_rollups
       where ctid = any(array(
         select ctid from metric_rollups where minute < ${cutoff}::timestamptz limit ${limit}))`;
    return result.count;
  }
}
