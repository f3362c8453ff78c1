import { UnavailableError } from "@conveyor/core";
import postgres from "postgres";

/**
 * True when an error means PostgreSQL could not be reached (as opposed to the server
 * refusing a statement): connection refused, timed out, or dropped.
 */
export function isConnectionError(err: unknown): boolean {
  // Drizzle wraps driver errors (DrizzleQueryError) with the original as `cause`.
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isDriverConnectionError(e)) return true;
  }
  return false;
}

/**
 * True when the same statement may simply be run again: a lost connection, or PostgreSQL
 * choosing this transaction as a deadlock's or a serialization conflict's victim.
 */
export function isRetryableDbError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isDriverConnectionError(e)) return true;
    if (e instanceof postgres.PostgresError && (e.code === "40P01" || e.code === "40001")) return true;
  }
  return false;
}

function isDriverConnectionError(err: unknown): boolean {
  if (err instanceof postgres.PostgresError) {
    // Class 08 is connection exceptions; 57P0x is the server shutting down; class 53 is the
    // server out of resources (too many connections, disk full, out of memory): a worker that
    // gave up on those would leave its attempt `running` for good.
    return err.code.startsWith("08") || err.code.startsWith("57P") || err.code.startsWith("53");
  }
  const code = (err as { code?: unknown })?.code;
  return (
    typeof code === "string" &&
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|CONNECT_TIMEOUT|CONNECTION_CLOSED|CONNECTION_ENDED|CONNECTION_DESTROYED)$/.test(
      code,
    )
  );
}

/** Runs a ledger call; an unreachable database becomes `UnavailableError` (503). */
export async function orUnavailable<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isConnectionError(err)) throw new UnavailableError(`the ledger is unavailable: ${what} was not done`);
    throw err;
  }
}
