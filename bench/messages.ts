/**
 * What the bench process and its child processes (api, worker node, raw BullMQ worker) say to
 * each other over Bun's IPC channel, and how a child gets its configuration (one JSON env var).
 */

/** The env var that carries a child's configuration as JSON. */
export const CONFIG_VAR = "BENCH_CHILD_CONFIG";

export interface ApiProcessConfig {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  adminKey: string;
  /** Add the bench's diagnostic task types (bench/quiet-sleep.ts) to the catalog. */
  benchTypes?: boolean;
}

export interface WorkerProcessConfig {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  types: string[];
  /** Add the bench's diagnostic task types (bench/quiet-sleep.ts) to the catalog. */
  benchTypes?: boolean;
  /** Per-type local concurrency; left out, the catalog's defaults. */
  concurrency?: Record<string, { min: number; max: number }>;
}

export interface RawWorkerProcessConfig {
  redisUrl: string;
  queuePrefix: string;
  queue: string;
  /** How many BullMQ Worker instances (each its own connection) share the concurrency. */
  workers: number;
  /** Concurrency of each Worker instance. */
  concurrency: number;
  /** 0: a no-op processor. */
  sleepMs: number;
  /** Keep job.timestamp-to-processor-start for every job whose data has no `warm` flag. */
  recordLatency: boolean;
}

/** Calls and their time in one instrumented method. Calls overlap, so `totalMs` can exceed the wall time. */
export interface PhaseFigures {
  calls: number;
  totalMs: number;
  meanMs: number;
  maxMs: number;
}

/** What a child reports when asked. */
export interface ChildStats {
  pid: number;
  /** Highest RSS the child saw itself at (sampled every 50 ms). */
  rssPeakBytes: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  /** Most jobs running at once (worker processes). */
  activePeak?: number;
  /** Jobs finished (raw worker). */
  completed?: number;
  /** Epoch ms of the last finished job (raw worker). */
  lastCompletedAt?: number;
  /** Submit-to-start per job in ms (raw worker with `recordLatency`). */
  latenciesMs?: number[];
  phases?: Record<string, PhaseFigures>;
}

export type ChildMessage = { kind: "ready"; port?: number } | { kind: "stats"; stats: ChildStats };

export type ParentMessage = { kind: "stats" } | { kind: "stop" };

/** A child's configuration, read from its env var. */
export function childConfig<T>(): T {
  const text = process.env[CONFIG_VAR];
  if (!text) throw new Error(`${CONFIG_VAR} is not set: this program is started by bench/index.ts`);
  return JSON.parse(text) as T;
}
