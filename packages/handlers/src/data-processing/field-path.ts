/** A row of source data: a JSON object, or a CSV record keyed by its header. */
export type Row = Record<string, unknown>;

/** True for a JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Row {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Sets an own property. Plain assignment would treat a key named `__proto__` (a valid JSON and CSV
 * name) as the prototype setter, so source data could change an object's prototype.
 */
export function putField(target: Row, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/** A shallow copy that keeps every own key, `__proto__` included, as data. */
function copyRow(row: Row): Row {
  const copy: Row = {};
  for (const key of Object.keys(row)) putField(copy, key, row[key]);
  return copy;
}

/**
 * Where a dotted path's value lives: the object holding it and its key there. At each level a key
 * that is the whole rest of the path (`"user.country"`, as a CSV header written from nested data)
 * wins over nesting, so data that went out as CSV reads back with the same paths.
 */
function locate(row: Row, path: string): { holder: Row; key: string } | undefined {
  if (Object.hasOwn(row, path)) return { holder: row, key: path };
  const dot = path.indexOf(".");
  if (dot < 0) return undefined;
  const first = path.slice(0, dot);
  const child = Object.hasOwn(row, first) ? row[first] : undefined;
  return isRecord(child) ? locate(child, path.slice(dot + 1)) : undefined;
}

/** The value at a dotted path, or undefined when any part is missing. Only own keys count. */
export function getField(row: Row, path: string): unknown {
  const at = locate(row, path);
  return at ? at.holder[at.key] : undefined;
}

/**
 * A copy of `row` with `value` at the dotted path, nesting as needed; only the objects along the
 * path are copied. A non-object in the way is replaced, as a leaf would be.
 */
export function withField(row: Row, path: string, value: unknown): Row {
  const copy = copyRow(row);
  const dot = path.indexOf(".");
  // Same rule as reading: a key that is the whole rest of the path is the field itself.
  if (dot < 0 || Object.hasOwn(row, path)) {
    putField(copy, path, value);
    return copy;
  }
  const first = path.slice(0, dot);
  const child = Object.hasOwn(row, first) ? row[first] : undefined;
  putField(copy, first, withField(isRecord(child) ? child : {}, path.slice(dot + 1), value));
  return copy;
}

/** A copy of `row` without the value at the dotted path (the same row when there is none). */
export function withoutField(row: Row, path: string): Row {
  if (Object.hasOwn(row, path)) {
    const copy = copyRow(row);
    delete copy[path];
    return copy;
  }
  const dot = path.indexOf(".");
  if (dot < 0) return row;
  const first = path.slice(0, dot);
  const child = Object.hasOwn(row, first) ? row[first] : undefined;
  if (!isRecord(child)) return row;
  const inner = withoutField(child, path.slice(dot + 1));
  if (inner === child) return row;
  const copy = copyRow(row);
  putField(copy, first, inner);
  return copy;
}
