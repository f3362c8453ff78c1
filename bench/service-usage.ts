import { readdirSync, readFileSync } from "node:fs";
import { Redis } from "ioredis";

/**
 * What Redis and PostgreSQL have done so far: CPU ms of Redis (its INFO), commands Redis ran
 * (per command name), and CPU ms of the PostgreSQL processes on this host (/proc).
 */
export interface ServiceUsage {
  redisMs: number;
  redisCommands: Record<string, number>;
  /** Null when /proc is not there or shows no postgres process (a remote server). */
  postgresMs: number | null;
}

// Linux's USER_HZ: /proc/<pid>/stat counts CPU in these ticks.
const TICKS_PER_SECOND = 100;

/** Reads the counters; subtract two readings (`usageSpent`) to get what a run cost. */
export async function serviceUsage(redisUrl: string): Promise<ServiceUsage> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const [cpu, commandstats] = await Promise.all([redis.info("cpu"), redis.info("commandstats")]);
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
    const redisCommands: Record<string, number> = {};
    for (const m of commandstats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (m[1] && m[2]) redisCommands[m[1]] = Number(m[2]);
    }
    return {
      redisMs: (field("used_cpu_sys") + field("used_cpu_user")) * 1000,
      redisCommands,
      postgresMs: postgresCpuMs(),
    };
  } finally {
    redis.disconnect();
  }
}

/**
 * Every `postgres` process's own CPU plus what it reaped from exited children: the postmaster's
 * reaped total covers backends that came and went during the run.
 */
function postgresCpuMs(): number | null {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  let ticks = 0;
  let found = false;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    if (stat.slice(open + 1, close) !== "postgres") continue;
    found = true;
    // Fields after the name: state is field 3; utime, stime, cutime, cstime are fields 14 to 17.
    const fields = stat.slice(close + 2).split(" ");
    for (const i of [11, 12, 13, 14]) ticks += Number(fields[i] ?? 0);
  }
  return found ? (ticks / TICKS_PER_SECOND) * 1000 : null;
}

/** What a run cost Redis and PostgreSQL: CPU ms, and Redis commands per `per` (e.g. per task), busiest first. */
export function usageSpent(
  before: ServiceUsage,
  after: ServiceUsage,
  per: number,
): { redisMs: number; postgresMs: number | null; redisCommandsPer: Record<string, number> } {
  const deltas = Object.entries(after.redisCommands)
    .map(([name, calls]) => [name, calls - (before.redisCommands[name] ?? 0)] as const)
    .filter(([name, d]) => d > 0 && name !== "info")
    .sort((a, b) => b[1] - a[1]);
  const total = deltas.reduce((s, [, d]) => s + d, 0);
  const r = (n: number) => Math.round((n / per) * 100) / 100;
  return {
    redisMs: Math.round(after.redisMs - before.redisMs),
    postgresMs:
      before.postgresMs === null || after.postgresMs === null ? null : Math.round(after.postgresMs - before.postgresMs),
    redisCommandsPer: Object.fromEntries([["total", r(total)], ...deltas.slice(0, 8).map(([n, d]) => [n, r(d)])]),
  };
}
