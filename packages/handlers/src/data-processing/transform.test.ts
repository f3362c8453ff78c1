import { describe, expect, test } from "bun:test";
import type { Row } from "./field-path.ts";
import { getField, withField, withoutField } from "./field-path.ts";
import { type Transformation, transformationSchema } from "./schema.ts";
import { applyTransformation, applyTransformations, asNumber, compareValues } from "./transform.ts";

/** Steps go through the schema, as they do in a task, so defaults (sort order) apply. */
const step = (input: unknown): Transformation => transformationSchema.parse(input);
const run = (rows: Row[], ...steps: unknown[]) => applyTransformations(rows, steps.map(step));

const people: Row[] = [
  { id: 1, name: "Ana", age: 34, tags: ["admin", "ops"], user: { country: "FR", city: "Lyon" } },
  { id: 2, name: "Bo", age: 9, tags: ["dev"], user: { country: "DE" } },
  { id: 3, name: "Cy", age: null, tags: [], user: { country: "FR", city: "Paris" } },
  { id: 4, name: "Di", user: { city: "Rome" } },
];
const ids = (rows: Row[]) => rows.map((r) => r.id);

/** CSV rows: every field a string. */
const csvRows: Row[] = [
  { sku: "a", qty: "10", price: "2.5", region: "eu" },
  { sku: "b", qty: "9", price: "x", region: "us" },
  { sku: "c", qty: "100", price: "1", region: "eu" },
  { sku: "d", qty: "", price: "4", region: "us" },
];

describe("numbers and comparison", () => {
  test("numeric strings read as numbers, other text does not", () => {
    expect(asNumber("10")).toBe(10);
    expect(asNumber(" -2.5e3 ")).toBe(-2500);
    expect(asNumber(".5")).toBe(0.5);
    expect(asNumber(7)).toBe(7);
    for (const text of ["", " ", "0x10", "Infinity", "1,000", "10a", "NaN"]) expect(asNumber(text)).toBeUndefined();
    expect(asNumber(true)).toBeUndefined();
    expect(asNumber(null)).toBeUndefined();
    expect(asNumber(Number.NaN)).toBeUndefined();
  });

  test("two numbers compare as numbers, anything else as strings", () => {
    expect(compareValues("10", "9")).toBeGreaterThan(0);
    expect(compareValues("10", 9)).toBeGreaterThan(0);
    expect(compareValues("10", "9a")).toBeLessThan(0);
    expect(compareValues("b", "a")).toBeGreaterThan(0);
    expect(compareValues("B", "a")).toBeLessThan(0);
    expect(compareValues("1.0", 1)).toBe(0);
  });
});

describe("filter", () => {
  test("eq and ne, numbers by value across strings and numbers", () => {
    expect(ids(run(people, { op: "filter", field: "name", operator: "eq", value: "Bo" }))).toEqual([2]);
    expect(ids(run(people, { op: "filter", field: "id", operator: "eq", value: "2" }))).toEqual([2]);
    expect(ids(run(people, { op: "filter", field: "name", operator: "ne", value: "Bo" }))).toEqual([1, 3, 4]);
    expect(run(csvRows, { op: "filter", field: "qty", operator: "eq", value: 10 }).map((r) => r.sku)).toEqual(["a"]);
    expect(run(csvRows, { op: "filter", field: "qty", operator: "eq", value: "10.0" }).map((r) => r.sku)).toEqual([
      "a",
    ]);
  });

  test("eq null matches null and missing; ne null keeps the rows with a value", () => {
    expect(ids(run(people, { op: "filter", field: "age", operator: "eq", value: null }))).toEqual([3, 4]);
    expect(ids(run(people, { op: "filter", field: "age", operator: "ne", value: null }))).toEqual([1, 2]);
  });

  test("eq compares booleans with CSV text", () => {
    const rows = [{ ok: "true" }, { ok: true }, { ok: "false" }];
    expect(run(rows, { op: "filter", field: "ok", operator: "eq", value: true })).toHaveLength(2);
  });

  test("gt, gte, lt, lte compare CSV strings as numbers", () => {
    const skus = (operator: string, value: unknown) =>
      run(csvRows, { op: "filter", field: "qty", operator, value }).map((r) => r.sku);
    expect(skus("gt", "9")).toEqual(["a", "c"]);
    expect(skus("gt", 9)).toEqual(["a", "c"]);
    expect(skus("gte", 10)).toEqual(["a", "c"]);
    expect(skus("lt", 10)).toEqual(["b"]);
    expect(skus("lte", "10")).toEqual(["a", "b"]);
  });

  test("ordering operators fall back to strings and skip missing, null and objects", () => {
    expect(ids(run(people, { op: "filter", field: "name", operator: "gte", value: "Bo" }))).toEqual([2, 3, 4]);
    expect(ids(run(people, { op: "filter", field: "age", operator: "lt", value: 100 }))).toEqual([1, 2]);
    expect(ids(run(people, { op: "filter", field: "user", operator: "gt", value: "" }))).toEqual([]);
    // A blank CSV cell has no value to order by, as in a spreadsheet.
    expect(run(csvRows, { op: "filter", field: "qty", operator: "lt", value: "5" })).toEqual([]);
    expect(run(csvRows, { op: "filter", field: "region", operator: "gte", value: "" })).toHaveLength(4);
  });

  test("contains is a substring test for strings and membership for arrays", () => {
    expect(ids(run(people, { op: "filter", field: "name", operator: "contains", value: "y" }))).toEqual([3]);
    expect(ids(run(people, { op: "filter", field: "tags", operator: "contains", value: "ops" }))).toEqual([1]);
    expect(ids(run(people, { op: "filter", field: "tags", operator: "contains", value: "op" }))).toEqual([]);
    expect(ids(run(people, { op: "filter", field: "age", operator: "contains", value: "3" }))).toEqual([]);
    // Never a pattern: regex syntax is matched literally.
    const rows = [{ s: "a.c" }, { s: "abc" }, { s: "(x)" }];
    expect(run(rows, { op: "filter", field: "s", operator: "contains", value: "." })).toEqual([{ s: "a.c" }]);
    expect(run(rows, { op: "filter", field: "s", operator: "contains", value: "(" })).toEqual([{ s: "(x)" }]);
    expect(run([{ n: [1, 2] }], { op: "filter", field: "n", operator: "contains", value: "2" })).toHaveLength(1);
  });

  test("in takes a list", () => {
    expect(ids(run(people, { op: "filter", field: "name", operator: "in", value: ["Ana", "Di", "Zed"] }))).toEqual([
      1, 4,
    ]);
    expect(run(csvRows, { op: "filter", field: "qty", operator: "in", value: [9, 100] }).map((r) => r.sku)).toEqual([
      "b",
      "c",
    ]);
    expect(ids(run(people, { op: "filter", field: "age", operator: "in", value: [null] }))).toEqual([3, 4]);
    expect(run(people, { op: "filter", field: "name", operator: "in", value: [] })).toEqual([]);
  });

  test("exists true keeps rows with a value, false the others", () => {
    expect(ids(run(people, { op: "filter", field: "user.city", operator: "exists", value: true }))).toEqual([1, 3, 4]);
    expect(ids(run(people, { op: "filter", field: "user.city", operator: "exists", value: false }))).toEqual([2]);
    expect(ids(run(people, { op: "filter", field: "age", operator: "exists", value: false }))).toEqual([3, 4]);
    // An empty CSV cell is a value (an empty string).
    expect(run(csvRows, { op: "filter", field: "qty", operator: "exists", value: true })).toHaveLength(4);
  });

  test("dotted paths read nested values", () => {
    expect(ids(run(people, { op: "filter", field: "user.country", operator: "eq", value: "FR" }))).toEqual([1, 3]);
    expect(ids(run(people, { op: "filter", field: "user.country.code", operator: "exists", value: true }))).toEqual([]);
  });

  test("a whole dotted key (a CSV column written from nested data) is read as the field", () => {
    const rows = [{ "user.country": "FR" }, { user: { country: "DE" } }];
    expect(run(rows, { op: "filter", field: "user.country", operator: "in", value: ["FR", "DE"] })).toHaveLength(2);
  });

  test("only own keys count: prototype names are not fields", () => {
    const rows: Row[] = [{ a: 1 }];
    expect(run(rows, { op: "filter", field: "constructor", operator: "exists", value: true })).toEqual([]);
    expect(run(rows, { op: "filter", field: "a.toString", operator: "exists", value: true })).toEqual([]);
  });
});

describe("select", () => {
  test("keeps only the listed fields, leaving out missing ones", () => {
    expect(run(people, { op: "select", fields: ["id", "age"] })).toEqual([
      { id: 1, age: 34 },
      { id: 2, age: 9 },
      { id: 3, age: null },
      { id: 4 },
    ]);
  });

  test("a dotted path nests in the output", () => {
    expect(run(people, { op: "select", fields: ["id", "user.country"] })).toEqual([
      { id: 1, user: { country: "FR" } },
      { id: 2, user: { country: "DE" } },
      { id: 3, user: { country: "FR" } },
      { id: 4 },
    ]);
    expect(run(people.slice(0, 1), { op: "select", fields: ["user.city", "user.country"] })).toEqual([
      { user: { city: "Lyon", country: "FR" } },
    ]);
  });

  test("a parent and its child together give the parent whole", () => {
    expect(run(people.slice(0, 1), { op: "select", fields: ["user", "user.country"] })).toEqual([
      { user: { country: "FR", city: "Lyon" } },
    ]);
  });
});

describe("rename", () => {
  test("renames a top-level field and leaves rows without it alone", () => {
    const out = run(people, { op: "rename", from: "age", to: "years" });
    expect(out[0]).toEqual({ id: 1, name: "Ana", tags: ["admin", "ops"], user: people[0]?.user, years: 34 });
    expect(out[3]).toBe(people[3] as Row);
  });

  test("moves nested values out, in and across", () => {
    const [first] = run(people.slice(0, 1), { op: "rename", from: "user.country", to: "country" });
    expect(first).toEqual({
      id: 1,
      name: "Ana",
      age: 34,
      tags: ["admin", "ops"],
      user: { city: "Lyon" },
      country: "FR",
    });
    const [second] = run([{ a: 1 }], { op: "rename", from: "a", to: "x.y.z" });
    expect(second).toEqual({ x: { y: { z: 1 } } });
    const [third] = run([{ geo: { lat: 1 }, meta: { ok: true } }], { op: "rename", from: "geo.lat", to: "meta.lat" });
    expect(third).toEqual({ geo: {}, meta: { ok: true, lat: 1 } });
  });

  test("replaces what was at the target", () => {
    expect(run([{ a: 1, b: 2 }], { op: "rename", from: "a", to: "b" })).toEqual([{ b: 1 }]);
    expect(run([{ a: 1, b: 2 }], { op: "rename", from: "a", to: "b.c" })).toEqual([{ b: { c: 1 } }]);
  });

  test("never changes the input rows", () => {
    const rows: Row[] = [{ user: { country: "FR" } }];
    const before = structuredClone(rows);
    run(rows, { op: "rename", from: "user.country", to: "user.nation" });
    expect(rows).toEqual(before);
  });
});

describe("sort", () => {
  test("numeric strings sort as numbers", () => {
    expect(run(csvRows.slice(0, 3), { op: "sort", by: "qty", order: "asc" }).map((r) => r.sku)).toEqual([
      "b",
      "a",
      "c",
    ]);
    expect(run(csvRows.slice(0, 3), { op: "sort", by: "qty", order: "desc" }).map((r) => r.sku)).toEqual([
      "c",
      "a",
      "b",
    ]);
  });

  test("order defaults to asc; text sorts by code unit", () => {
    const rows = [{ s: "b" }, { s: "B" }, { s: "a" }];
    expect(run(rows, { op: "sort", by: "s" })).toEqual([{ s: "B" }, { s: "a" }, { s: "b" }]);
  });

  test("stable, with missing, null and blank last in both orders", () => {
    const rows: Row[] = [
      { k: 2, n: "first" },
      { n: "missing-1" },
      { k: 1, n: "a" },
      { k: null, n: "null" },
      { k: 2, n: "second" },
      { k: "", n: "blank" },
      { n: "missing-2" },
      { k: "2", n: "third" },
    ];
    const names = (order: string) => run(rows, { op: "sort", by: "k", order }).map((r) => r.n);
    expect(names("asc")).toEqual(["a", "first", "second", "third", "missing-1", "null", "blank", "missing-2"]);
    expect(names("desc")).toEqual(["first", "second", "third", "a", "missing-1", "null", "blank", "missing-2"]);
  });

  test("by a nested path", () => {
    expect(ids(run(people, { op: "sort", by: "user.city", order: "desc" }))).toEqual([4, 3, 1, 2]);
  });
});

describe("limit", () => {
  test("keeps the first n", () => {
    expect(ids(run(people, { op: "limit", count: 2 }))).toEqual([1, 2]);
    expect(run(people, { op: "limit", count: 0 })).toEqual([]);
    expect(run(people, { op: "limit", count: 99 })).toHaveLength(4);
  });
});

describe("dedupe", () => {
  test("keeps the first row per value of one field", () => {
    expect(ids(run(people, { op: "dedupe", by: "user.country" }))).toEqual([1, 2, 4]);
    expect(run(csvRows, { op: "dedupe", by: ["region"] }).map((r) => r.sku)).toEqual(["a", "b"]);
  });

  test("keeps the first row per combination of several fields", () => {
    const rows: Row[] = [
      { a: 1, b: "x", n: 1 },
      { a: 1, b: "y", n: 2 },
      { a: 1, b: "x", n: 3 },
      { a: 2, b: "x", n: 4 },
      { a: 1, n: 5 },
      { a: 1, b: null, n: 6 },
    ];
    expect(run(rows, { op: "dedupe", by: ["a", "b"] }).map((r) => r.n)).toEqual([1, 2, 4, 5]);
  });

  test("a key of several fields is not fooled by values that join alike", () => {
    const rows: Row[] = [
      { a: "x,y", b: "z", n: 1 },
      { a: "x", b: "y,z", n: 2 },
    ];
    expect(run(rows, { op: "dedupe", by: ["a", "b"] })).toHaveLength(2);
  });
});

describe("aggregate", () => {
  const orders: Row[] = [
    { user: { country: "FR" }, amount: "10", item: "a" },
    { user: { country: "DE" }, amount: "5", item: "b" },
    { user: { country: "FR" }, amount: "2.5", item: null },
    { user: { country: "FR" }, amount: "n/a" },
    { user: {}, amount: 7, item: "c" },
  ];

  test("one row per group with every fn; groupBy nests by path", () => {
    const out = run(orders, {
      op: "aggregate",
      groupBy: ["user.country"],
      metrics: [
        { fn: "count", as: "orders" },
        { fn: "count", field: "item", as: "withItem" },
        { fn: "sum", field: "amount", as: "total" },
        { fn: "avg", field: "amount", as: "mean" },
        { fn: "min", field: "amount", as: "stats.low" },
        { fn: "max", field: "amount", as: "stats.high" },
      ],
    });
    expect(out).toEqual([
      { user: { country: "FR" }, orders: 3, withItem: 1, total: 12.5, mean: 6.25, stats: { low: 2.5, high: 10 } },
      { user: { country: "DE" }, orders: 1, withItem: 1, total: 5, mean: 5, stats: { low: 5, high: 5 } },
      { user: { country: null }, orders: 1, withItem: 1, total: 7, mean: 7, stats: { low: 7, high: 7 } },
    ]);
  });

  test("a group with no numbers: sum 0, avg, min and max null", () => {
    const out = run([{ g: "x", v: "none" }, { g: "x" }], {
      op: "aggregate",
      groupBy: ["g"],
      metrics: [
        { fn: "sum", field: "v", as: "sum" },
        { fn: "avg", field: "v", as: "avg" },
        { fn: "min", field: "v", as: "min" },
        { fn: "max", field: "v", as: "max" },
      ],
    });
    expect(out).toEqual([{ g: "x", sum: 0, avg: null, min: null, max: null }]);
  });

  test("several groupBy fields, and no groupBy at all", () => {
    const rows: Row[] = [
      { a: 1, b: "x" },
      { a: 1, b: "y" },
      { a: 1, b: "x" },
    ];
    expect(run(rows, { op: "aggregate", groupBy: ["a", "b"], metrics: [{ fn: "count", as: "n" }] })).toEqual([
      { a: 1, b: "x", n: 2 },
      { a: 1, b: "y", n: 1 },
    ]);
    expect(run(rows, { op: "aggregate", groupBy: [], metrics: [{ fn: "count", as: "n" }] })).toEqual([{ n: 3 }]);
    expect(run([], { op: "aggregate", groupBy: [], metrics: [{ fn: "count", as: "n" }] })).toEqual([{ n: 0 }]);
    expect(run([], { op: "aggregate", groupBy: ["a"], metrics: [{ fn: "count", as: "n" }] })).toEqual([]);
  });

  test("min and max over many values do not overflow the stack", () => {
    const rows: Row[] = Array.from({ length: 300_000 }, (_, i) => ({ v: i }));
    const out = run(rows, {
      op: "aggregate",
      groupBy: [],
      metrics: [
        { fn: "min", field: "v", as: "min" },
        { fn: "max", field: "v", as: "max" },
      ],
    });
    expect(out).toEqual([{ min: 0, max: 299_999 }]);
  });
});

describe("steps in order", () => {
  test("filter, sort, limit and select chain", () => {
    const out = run(
      csvRows,
      { op: "filter", field: "region", operator: "eq", value: "eu" },
      { op: "sort", by: "qty", order: "desc" },
      { op: "limit", count: 1 },
      { op: "select", fields: ["sku"] },
    );
    expect(out).toEqual([{ sku: "c" }]);
  });

  test("no steps returns the rows as they are", () => {
    expect(applyTransformations(people, [])).toBe(people);
    expect(applyTransformation(people, step({ op: "limit", count: 10 }))).toEqual(people);
  });
});

describe("field paths", () => {
  test("a key named __proto__ is data, never the prototype", () => {
    const row = JSON.parse('{"__proto__": {"polluted": true}}') as Row;
    const moved = withField({}, "__proto__.polluted", "yes");
    expect(Object.getPrototypeOf(moved)).toBe(Object.prototype);
    expect(getField(moved, "__proto__.polluted")).toBe("yes");
    const [renamed] = run([row], { op: "rename", from: "__proto__", to: "x.__proto__" });
    expect(({} as Row).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(renamed?.x)).toBe(Object.prototype);
    expect(getField(renamed as Row, "x.__proto__.polluted")).toBe(true);
    expect(JSON.stringify(renamed)).toBe('{"x":{"__proto__":{"polluted":true}}}');
  });

  test("withoutField drops only the path, copying along it", () => {
    const row: Row = { a: { b: 1, c: 2 }, d: 3 };
    const out = withoutField(row, "a.b");
    expect(out).toEqual({ a: { c: 2 }, d: 3 });
    expect(row).toEqual({ a: { b: 1, c: 2 }, d: 3 });
    expect(withoutField(row, "a.z")).toBe(row);
    expect(withoutField(row, "d.e")).toBe(row);
  });
});
