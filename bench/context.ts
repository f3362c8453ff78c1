import type { JobsOptions } from "bullmq";
import type { ChildStats } from "./messages.ts";

/** What every scenario gets. */
export interface BenchContext {
  quick: boolean;
  redisUrl: string;
  /** A progress line on stderr (the table goes to stdout). */
  log(message: string): void;
}

/** Raw BullMQ's jobs: nothing kept once done, as Conveyor's own jobs. */
export const RAW_JOB_OPTIONS: JobsOptions = { removeOnComplete: true, removeOnFail: true };

/** CPU ms a child used between two of its reports. */
export function cpuBetween(before: ChildStats, after: ChildStats): number {
  return Math.round(after.cpuUserMs + after.cpuSystemMs - before.cpuUserMs - before.cpuSystemMs);
}

/** The bench process's own CPU ms since `since` (from `process.cpuUsage()`). */
export function ownCpuMs(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return Math.round((u.user + u.system) / 1000);
}

export const MB = 1024 * 1024;

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
