import type { TaskCatalog } from "@conveyor/handlers";

/** A type's local concurrency range on this node. */
export interface ConcurrencyRange {
  min: number;
  max: number;
}

/** Thrown for a `WORKER_CONCURRENCY` that does not parse. */
export class ConcurrencyConfigError extends Error {
  override name = "ConcurrencyConfigError";
}

/**
 * Reads `WORKER_CONCURRENCY`: `200` sets every type's maximum; `sleep=5000,echo=100` sets
 * maxima per type; `sleep=4-40` sets a range (a minimum above the maximum is lowered to it).
 * Types not named keep their catalog defaults.
 */
export function parseConcurrency(
  spec: string,
  catalog: TaskCatalog,
  types: string[],
): Record<string, ConcurrencyRange> {
  const ranges: Record<string, ConcurrencyRange> = {};
  for (const t of types) ranges[t] = { ...catalog.get(t).defaults.concurrency };
  const text = spec.trim();
  if (!text) return ranges;
  if (/^\d+$/.test(text)) {
    const max = positive(text, "WORKER_CONCURRENCY");
    for (const t of types) ranges[t] = clamp({ min: ranges[t]?.min ?? 1, max });
    return ranges;
  }
  for (const part of text.split(",")) {
    const m = /^\s*([a-z][a-z0-9_]*)\s*=\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(part);
    if (!m?.[1] || !m[2]) throw new ConcurrencyConfigError(`WORKER_CONCURRENCY: cannot read '${part}'`);
    const type = m[1];
    if (!catalog.has(type)) throw new ConcurrencyConfigError(`WORKER_CONCURRENCY: unknown task type '${type}'`);
    if (!types.includes(type)) continue;
    ranges[type] = m[3]
      ? clamp({ min: positive(m[2], type), max: positive(m[3], type) })
      : clamp({ min: ranges[type]?.min ?? 1, max: positive(m[2], type) });
  }
  return ranges;
}

function positive(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new ConcurrencyConfigError(`WORKER_CONCURRENCY: ${what} must be at least 1`);
  return n;
}

function clamp(r: ConcurrencyRange): ConcurrencyRange {
  return { min: Math.min(r.min, r.max), max: r.max };
}
