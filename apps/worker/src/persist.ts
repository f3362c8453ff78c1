import type { Logger } from "@conveyor/core";
import { isRetryableDbError } from "@conveyor/db";

/**
 * Runs a ledger write until it succeeds. While PostgreSQL is away the job stays active in
 * BullMQ (its lock keeps renewing), so a job never finishes without its ledger record.
 * A deadlock victim is run again too. Other errors are real bugs: they are thrown.
 */
export async function persist<T>(log: Logger, what: string, write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!isRetryableDbError(err)) throw err;
      const wait = Math.min(100 * 2 ** attempt, 2000);
      if (attempt === 1 || attempt % 10 === 0) {
        log.warn({ what, attempt, err: (err as Error).message }, "ledger unreachable; retrying the write");
      }
      await Bun.sleep(wait);
    }
  }
}
