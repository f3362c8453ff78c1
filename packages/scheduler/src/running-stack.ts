import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where `bun run dev`/`start` found PostgreSQL and Redis, for processes started beside it. */
export interface RunningStack {
  pid: number;
  databaseUrl: string;
  redisUrl?: string;
}

const FILE = "stack.json";

/**
 * Records the stack `bun run dev`/`start` runs on, in the data folder (mode 0600: the URL of an
 * embedded PostgreSQL carries its password). Returns a function that removes the record.
 */
export function recordRunningStack(dataRoot: string, stack: RunningStack): () => void {
  mkdirSync(dataRoot, { recursive: true });
  const file = join(dataRoot, FILE);
  writeFileSync(file, JSON.stringify(stack), { mode: 0o600 });
  chmodSync(file, 0o600);
  return () => {
    // Only our own record: a newer run may have replaced it.
    if (runningStack(dataRoot)?.pid === stack.pid) rmSync(file, { force: true });
  };
}

/**
 * The stack a live `bun run dev`/`start` recorded, or null. A process started beside it without
 * `DATABASE_URL` uses this instead of starting an embedded PostgreSQL of its own on the same
 * folder (which would stop the one already running there).
 */
export function runningStack(dataRoot: string): RunningStack | null {
  const file = join(dataRoot, FILE);
  if (!existsSync(file)) return null;
  try {
    const s = JSON.parse(readFileSync(file, "utf8")) as RunningStack;
    if (typeof s.pid !== "number" || typeof s.databaseUrl !== "string") return null;
    process.kill(s.pid, 0);
    return s;
  } catch {
    // Unreadable, or its process is gone.
    return null;
  }
}
