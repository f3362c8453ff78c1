import { describe, expect, test } from "bun:test";
import { TaskFailure } from "../failure.ts";
import type { Row } from "./field-path.ts";
import { detectSourceFormat, flattenRow, formatOutput, headerValue, parseSource } from "./formats.ts";
import { applyTransformations } from "./transform.ts";

/** The TaskFailure a call throws (fails the test when it throws something else or nothing). */
function failureOf(fn: () => unknown): TaskFailure {
  try {
    fn();
  } catch (err) {
    if (err instanceof TaskFailure) return err;
    throw err;
  }
  throw new Error("expected a TaskFailure");
}

const csvOf = (rows: Row[]) => formatOutput(rows, "csv").output as string;

describe("csv in", () => {
  test("quotes, commas, doubled quotes and newlines inside fields", () => {
    const text = 'name,note,qty\r\nAna,"Hello, world",10\r\n"Bo ""the"" builder","line one\nline two",9\r\n';
    expect(parseSource(text, "csv")).toEqual([
      { name: "Ana", note: "Hello, world", qty: "10" },
      { name: 'Bo "the" builder', note: "line one\nline two", qty: "9" },
    ]);
  });

  test("a byte order mark is not part of the first header", () => {
    const [row] = parseSource("\uFEFFid,name\n1,Ana\n", "csv");
    expect(Object.keys(row as Row)).toEqual(["id", "name"]);
  });

  test("blank lines are skipped; a header alone is no rows", () => {
    expect(parseSource("a,b\n\n1,2\n\n", "csv")).toEqual([{ a: "1", b: "2" }]);
    expect(parseSource("a,b\n", "csv")).toEqual([]);
    expect(parseSource("", "csv")).toEqual([]);
  });

  test("a header named __proto__ is an ordinary column", () => {
    const [row] = parseSource("__proto__,b\nx,y\n", "csv");
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    expect(Object.keys(row as Row)).toEqual(["__proto__", "b"]);
  });

  test("malformed CSV fails with invalid_source, not retried, without quoting the data", () => {
    for (const text of ["a,b\n1,2,3\n", 'a,b\n"open,2\n', 'a,b\n"x"secret,2\n']) {
      const failure = failureOf(() => parseSource(text, "csv"));
      expect(failure).toMatchObject({ code: "invalid_source", retryable: false });
      expect(failure.message).toContain("CSV");
      expect(failure.message).not.toContain("secret");
    }
  });

  test("a header naming a column twice fails", () => {
    const failure = failureOf(() => parseSource("a,b,a\n1,2,3\n", "csv"));
    expect(failure).toMatchObject({ code: "invalid_source", retryable: false });
    expect(failure.message).toContain("'a' twice");
  });
});

describe("csv out", () => {
  test("header from the union of keys in first-seen order, blanks where a row has none", () => {
    expect(csvOf([{ a: 1, b: "x" }, { c: true, a: 2 }, { b: null }])).toBe("a,b,c\n1,x,\n2,,true\n,,\n");
  });

  test("quotes what needs quoting", () => {
    const out = csvOf([{ s: "a,b" }, { s: 'say "hi"' }, { s: "two\nlines" }, { s: "plain" }]);
    expect(out).toBe('s\n"a,b"\n"say ""hi"""\n"two\nlines"\nplain\n');
  });

  test("nested objects become dotted columns; arrays are JSON", () => {
    const rows: Row[] = [
      { id: 1, user: { country: "FR", geo: { lat: 1.5 } }, tags: ["a", "b"] },
      { id: 2, user: { country: "DE" } },
    ];
    expect(csvOf(rows)).toBe('id,user.country,user.geo.lat,tags\n1,FR,1.5,"[""a"",""b""]"\n2,DE,,\n');
    expect(flattenRow(rows[0] as Row)).toEqual({
      id: 1,
      "user.country": "FR",
      "user.geo.lat": 1.5,
      tags: ["a", "b"],
    });
  });

  test("no rows is empty text", () => {
    expect(formatOutput([], "csv")).toEqual({ rowCount: 0, format: "csv", output: "" });
  });

  test("round trip: what goes out reads back the same", () => {
    const rows: Row[] = [
      { name: 'Bo "the" builder', note: "Hello, world", multi: "one\r\ntwo\nthree", empty: "", lead: " sp " },
      { name: "Ana", note: "=1+2", multi: "", empty: "", lead: "x" },
    ];
    expect(parseSource(csvOf(rows), "csv")).toEqual(rows);
  });

  test("round trip of nested data: the dotted columns keep their paths", () => {
    const rows: Row[] = [{ user: { country: "FR" }, n: 10 }];
    const back = parseSource(csvOf(rows), "csv");
    expect(back).toEqual([{ "user.country": "FR", n: "10" }]);
    const filtered = applyTransformations(back, [{ op: "filter", field: "user.country", operator: "eq", value: "FR" }]);
    expect(filtered).toHaveLength(1);
  });
});

describe("json and ndjson", () => {
  test("json: an array of objects", () => {
    expect(parseSource('[{"a":1},{"b":{"c":[2]}}]', "json")).toEqual([{ a: 1 }, { b: { c: [2] } }]);
    expect(parseSource("\uFEFF[]", "json")).toEqual([]);
  });

  test("json: anything else fails with invalid_source, not retried", () => {
    const cases: [string, string][] = [
      ['{"a":1}', "array of objects"],
      ['[{"a":1}, 2]', "item 1 is not an object"],
      ['[{"a":1}, [1]]', "item 1 is not an object"],
      ["[null]", "item 0"],
      ['[{"a": secret}]', "not valid JSON"],
      ["", "not valid JSON"],
    ];
    for (const [text, message] of cases) {
      const failure = failureOf(() => parseSource(text, "json"));
      expect(failure).toMatchObject({ code: "invalid_source", retryable: false });
      expect(failure.message).toContain(message);
      expect(failure.message).not.toContain("secret");
    }
  });

  test("ndjson: one object per non-empty line, CRLF or LF", () => {
    expect(parseSource('{"a":1}\r\n\r\n  \n{"a":2}\n', "ndjson")).toEqual([{ a: 1 }, { a: 2 }]);
    expect(parseSource('{"a":1}', "ndjson")).toEqual([{ a: 1 }]);
    expect(parseSource("", "ndjson")).toEqual([]);
  });

  test("ndjson: a bad line is named by number", () => {
    expect(failureOf(() => parseSource('{"a":1}\n{oops\n', "ndjson")).message).toBe("line 2 is not valid JSON");
    expect(failureOf(() => parseSource('{"a":1}\n\n[1]\n', "ndjson")).message).toBe("line 3 is not a JSON object");
  });

  test("json output is the rows themselves; ndjson ends every line with a newline", () => {
    const rows: Row[] = [{ a: 1 }, { b: "x\ny" }];
    expect(formatOutput(rows, "json")).toEqual({ rowCount: 2, format: "json", output: rows });
    expect(formatOutput(rows, "ndjson")).toEqual({ rowCount: 2, format: "ndjson", output: '{"a":1}\n{"b":"x\\ny"}\n' });
    expect(formatOutput([], "ndjson").output).toBe("");
    expect(parseSource(formatOutput(rows, "ndjson").output as string, "ndjson")).toEqual(rows);
  });
});

describe("source format detection", () => {
  test("by content type, ignoring parameters and case", () => {
    const url = ["https://example.com/data"];
    expect(detectSourceFormat("application/json; charset=utf-8", url)).toBe("json");
    expect(detectSourceFormat("Application/JSON", url)).toBe("json");
    expect(detectSourceFormat("application/x-ndjson", url)).toBe("ndjson");
    expect(detectSourceFormat("application/ndjson", url)).toBe("ndjson");
    expect(detectSourceFormat("application/jsonl", url)).toBe("ndjson");
    expect(detectSourceFormat("text/csv; header=present", url)).toBe("csv");
  });

  test("the content type wins over the extension", () => {
    expect(detectSourceFormat("text/csv", ["https://example.com/data.json"])).toBe("csv");
  });

  test("by the URL path's extension when the content type says nothing", () => {
    expect(detectSourceFormat(undefined, ["https://example.com/a/data.json"])).toBe("json");
    expect(detectSourceFormat("text/plain", ["https://example.com/data.NDJSON"])).toBe("ndjson");
    expect(detectSourceFormat("application/octet-stream", ["https://example.com/data.jsonl?x=1"])).toBe("ndjson");
    expect(detectSourceFormat("", ["https://example.com/export.csv#top"])).toBe("csv");
  });

  test("the query string is not the path", () => {
    const failure = failureOf(() => detectSourceFormat(undefined, ["https://example.com/export?file=a.csv"]));
    expect(failure.code).toBe("invalid_source");
  });

  test("the URL that answered after redirects is the fallback", () => {
    const urls = ["https://example.com/download?id=3", "https://cdn.example.com/files/3.csv"];
    expect(detectSourceFormat(undefined, urls)).toBe("csv");
    expect(detectSourceFormat(undefined, ["https://example.com/a.json", "https://cdn.example.com/a.csv"])).toBe("json");
  });

  test("neither: invalid_source, not retried, naming the way out", () => {
    const failure = failureOf(() => detectSourceFormat("text/html", ["https://example.com/data.txt"]));
    expect(failure).toMatchObject({ code: "invalid_source", retryable: false });
    expect(failure.message).toContain("cannot tell the source format");
    expect(failure.message).toContain("sourceFormat");
  });

  test("header lookup ignores case", () => {
    expect(headerValue({ "Content-Type": "text/csv" }, "content-type")).toBe("text/csv");
    expect(headerValue({}, "content-type")).toBeUndefined();
  });
});
