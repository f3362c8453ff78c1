import type { AttemptRow, TaskRow } from "@conveyor/db";

/** A task as the API shows it (CONTRACT.md, "Task"). */
export interface Task {
  id: string;
  tenant: string;
  type: string;
  status: string;
  priority: string;
  payload: unknown;
  result: unknown;
  error: { code: string; message: string } | null;
  progress: number | null;
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  idempotencyKey: string | null;
  scheduleId: string | null;
  runAt: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  node: string | null;
}

export interface Attempt {
  n: number;
  node: string;
  startedAt: string;
  finishedAt: string | null;
  outcome: string;
  error: { code: string; message: string } | null;
  durationMs: number | null;
}

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

/** Shapes a ledger row for the API. */
export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    tenant: row.tenant,
    type: row.type,
    status: row.status,
    priority: row.priority,
    payload: row.payload,
    result: row.result ?? null,
    error: row.error ?? null,
    progress: row.progress ?? null,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    timeoutMs: row.timeoutMs,
    idempotencyKey: row.idempotencyKey ?? null,
    scheduleId: row.scheduleId ?? null,
    runAt: iso(row.runAt),
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    node: row.node ?? null,
  };
}

export function toAttempt(row: AttemptRow): Attempt {
  return {
    n: row.n,
    node: row.node,
    startedAt: row.startedAt.toISOString(),
    finishedAt: iso(row.finishedAt),
    outcome: row.outcome,
    error: row.error ?? null,
    durationMs: row.durationMs ?? null,
  };
}
