/** Client load: closed loop (N callers, each waits for its answer) and open loop (a steady rate). */

export interface LoadResult {
  /** Calls that started inside the measured window and succeeded. */
  ok: number;
  errors: number;
  /** The first few error messages, to tell what went wrong. */
  errorSamples: string[];
  /** Latency in ms of every successful call of the measured window. */
  latenciesMs: number[];
  /** Length of the measured window in ms. */
  windowMs: number;
}

function collector() {
  const result: LoadResult = { ok: 0, errors: 0, errorSamples: [], latenciesMs: [], windowMs: 0 };
  return {
    result,
    record(counted: boolean, started: number, err?: unknown) {
      if (!counted) return;
      if (err === undefined) {
        result.ok++;
        result.latenciesMs.push(performance.now() - started);
      } else {
        result.errors++;
        if (result.errorSamples.length < 5) result.errorSamples.push((err as Error)?.message ?? String(err));
      }
    },
  };
}

/**
 * `clients` callers each call `call` again as soon as the previous call answers, for
 * `warmupMs` (not counted) and then `durationMs` (counted by start time).
 */
export async function closedLoop(opts: {
  clients: number;
  warmupMs: number;
  durationMs: number;
  call: (i: number) => Promise<void>;
}): Promise<LoadResult> {
  const { result, record } = collector();
  const begin = performance.now();
  const measureFrom = begin + opts.warmupMs;
  const end = measureFrom + opts.durationMs;
  let seq = 0;
  await Promise.all(
    Array.from({ length: opts.clients }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        const counted = started >= measureFrom;
        try {
          await opts.call(seq++);
          record(counted, started);
        } catch (err) {
          record(counted, started, err);
        }
      }
    }),
  );
  result.windowMs = opts.durationMs;
  return result;
}

/**
 * Calls `call` at a steady `ratePerSec` whatever the answers take (an open loop), for
 * `warmupMs` (calls get `warm = true`, not counted) and then `durationMs`; waits for every
 * answer before returning.
 */
export async function openLoop(opts: {
  ratePerSec: number;
  warmupMs: number;
  durationMs: number;
  call: (i: number, warm: boolean) => Promise<void>;
}): Promise<LoadResult & { sent: number; warmSent: number }> {
  const { result, record } = collector();
  const begin = performance.now();
  const measureFrom = begin + opts.warmupMs;
  const end = measureFrom + opts.durationMs;
  const pending: Promise<void>[] = [];
  let sent = 0;
  let warmSent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.floor(((Math.min(now, end) - begin) / 1000) * opts.ratePerSec);
      while (sent < due) {
        const started = performance.now();
        const warm = started < measureFrom;
        if (warm) warmSent++;
        const i = sent++;
        pending.push(
          opts.call(i, warm).then(
            () => record(!warm, started),
            (err) => record(!warm, started, err),
          ),
        );
      }
      if (now >= end) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  await Promise.all(pending);
  result.windowMs = opts.durationMs;
  return { ...result, sent, warmSent };
}

/** Runs `work` over `items` with at most `limit` at a time. */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await work(item);
      }
    }),
  );
}
