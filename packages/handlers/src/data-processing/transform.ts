import { getField, type Row, withField, withoutField } from "./field-path.ts";
import type { AggregateStep, FilterStep, Metric, Transformation } from "./schema.ts";

/** Plain decimal notation only: hex, `Infinity` and blanks are text, as a reader of the CSV would see them. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** The value as a number when it is one or is a string that reads as one (CSV fields are strings). */
export function asNumber(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "string") {
    const text = value.trim();
    if (DECIMAL.test(text)) return Number(text);
  }
  return undefined;
}

/** Missing and null are both "no value": they fail comparisons and sort last. */
function isAbsent(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

/**
 * No value to order by: missing, null, or an empty string, which is how CSV writes a blank cell.
 * Spreadsheets do the same: blanks sort last and fail "less than 10".
 */
function isBlank(value: unknown): boolean {
  return isAbsent(value) || value === "";
}

/** How a non-numeric value compares as a string; objects and arrays by their JSON. */
function asText(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** Orders two present values: as numbers when both are numeric, else as strings by code unit. */
export function compareValues(a: unknown, b: unknown): number {
  const x = asNumber(a);
  const y = asNumber(b);
  if (x !== undefined && y !== undefined) return x - y;
  // Code-unit order, not localeCompare: the same result on every worker whatever its locale.
  const s = asText(a);
  const t = asText(b);
  return s < t ? -1 : s > t ? 1 : 0;
}

/** Equality as the filters see it: numbers by value ("10" = 10), other scalars by text, null = missing. */
function valuesEqual(field: unknown, value: unknown): boolean {
  if (isAbsent(value) || isAbsent(field)) return isAbsent(value) && isAbsent(field);
  if (typeof field === "object" || typeof value === "object") return false;
  const x = asNumber(field);
  const y = asNumber(value);
  if (x !== undefined && y !== undefined) return x === y;
  return String(field) === String(value);
}

/** Whether a row passes one filter. */
function matches(row: Row, step: FilterStep): boolean {
  const field = getField(row, step.field);
  switch (step.operator) {
    case "eq":
      return valuesEqual(field, step.value);
    case "ne":
      return !valuesEqual(field, step.value);
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      if (isBlank(field) || typeof field === "object") return false;
      const order = compareValues(field, step.value);
      if (step.operator === "gt") return order > 0;
      if (step.operator === "gte") return order >= 0;
      if (step.operator === "lt") return order < 0;
      return order <= 0;
    }
    case "contains":
      if (Array.isArray(field)) return field.some((item) => valuesEqual(item, step.value));
      // A plain substring test: the value is never read as a pattern.
      return typeof field === "string" && !isAbsent(step.value) && field.includes(String(step.value));
    case "in":
      return step.value.some((candidate) => valuesEqual(field, candidate));
    case "exists":
      return isAbsent(field) !== step.value;
  }
}

/** Only the listed fields, each at its own path (a dotted one nests); a missing one is left out. */
function selectFields(rows: Row[], fields: string[]): Row[] {
  return rows.map((row) => {
    let out: Row = {};
    for (const path of fields) {
      const value = getField(row, path);
      if (value !== undefined) out = withField(out, path, value);
    }
    return out;
  });
}

/** Moves a value from one path to another (replacing what was there); rows without it are unchanged. */
function renameField(rows: Row[], from: string, to: string): Row[] {
  if (from === to) return rows;
  return rows.map((row) => {
    const value = getField(row, from);
    return value === undefined ? row : withField(withoutField(row, from), to, value);
  });
}

/** A stable sort; rows without a value (blank included) come last in either order. */
function sortRows(rows: Row[], by: string, order: "asc" | "desc"): Row[] {
  const sign = order === "asc" ? 1 : -1;
  const keyed = rows.map((row) => ({ row, value: getField(row, by) }));
  // Array.prototype.sort is stable, so equal keys keep their input order.
  keyed.sort((a, b) => {
    const aAbsent = isBlank(a.value);
    const bAbsent = isBlank(b.value);
    if (aAbsent || bAbsent) return Number(aAbsent) - Number(bAbsent);
    return sign * compareValues(a.value, b.value);
  });
  return keyed.map((k) => k.row);
}

/** A grouping key: missing and null are the same, 10 and "10" are not (they came from different data). */
function keyOf(row: Row, fields: string[]): string {
  return JSON.stringify(fields.map((f) => getField(row, f) ?? null));
}

/** The first row for each key. */
function dedupeRows(rows: Row[], by: string | string[]): Row[] {
  const fields = typeof by === "string" ? [by] : by;
  const seen = new Set<string>();
  return rows.filter((row) => {
    const key = keyOf(row, fields);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** One metric over a group's rows. */
function measure(rows: Row[], metric: Metric): number | null {
  if (metric.fn === "count") {
    const { field } = metric;
    return field === undefined ? rows.length : rows.filter((row) => !isAbsent(getField(row, field))).length;
  }
  const numbers: number[] = [];
  for (const row of rows) {
    const n = asNumber(getField(row, metric.field));
    if (n !== undefined) numbers.push(n);
  }
  switch (metric.fn) {
    case "sum":
      return numbers.reduce((total, n) => total + n, 0);
    case "avg":
      return numbers.length === 0 ? null : numbers.reduce((total, n) => total + n, 0) / numbers.length;
    case "min":
      // A loop, not Math.min(...numbers): spreading a million values overflows the stack.
      return numbers.length === 0 ? null : numbers.reduce((low, n) => (n < low ? n : low));
    case "max":
      return numbers.length === 0 ? null : numbers.reduce((high, n) => (n > high ? n : high));
  }
}

/** One row per group, in first-seen order: its groupBy values (nested by path) and each metric under `as`. */
function aggregateRows(rows: Row[], step: AggregateStep): Row[] {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = keyOf(row, step.groupBy);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  // With no groupBy, no rows still make one group: a count of nothing is 0, not an empty result.
  if (step.groupBy.length === 0 && groups.size === 0) groups.set("[]", []);
  const out: Row[] = [];
  for (const members of groups.values()) {
    const first = members[0];
    let result: Row = {};
    for (const field of step.groupBy)
      result = withField(result, field, first ? (getField(first, field) ?? null) : null);
    for (const metric of step.metrics) result = withField(result, metric.as, measure(members, metric));
    out.push(result);
  }
  return out;
}

/** Applies one step; never changes the rows it is given. */
export function applyTransformation(rows: Row[], step: Transformation): Row[] {
  switch (step.op) {
    case "filter":
      return rows.filter((row) => matches(row, step));
    case "select":
      return selectFields(rows, step.fields);
    case "rename":
      return renameField(rows, step.from, step.to);
    case "sort":
      return sortRows(rows, step.by, step.order);
    case "limit":
      return rows.slice(0, step.count);
    case "dedupe":
      return dedupeRows(rows, step.by);
    case "aggregate":
      return aggregateRows(rows, step);
  }
}

/** Applies the steps in order. */
export function applyTransformations(rows: Row[], steps: Transformation[]): Row[] {
  return steps.reduce(applyTransformation, rows);
}
