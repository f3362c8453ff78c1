import { CsvError, parse as parseCsv } from "csv-parse/sync";
import { stringify as stringifyCsv } from "csv-stringify/sync";
import { TaskFailure } from "../failure.ts";
import { isRecord, putField, type Row } from "./field-path.ts";
import type { OutputFormat, SourceFormat } from "./schema.ts";

/** What a `data_processing` task returns: `output` is the rows for json, text for csv and ndjson. */
export type DataProcessingResult =
  | { rowCount: number; format: "json"; output: Row[] }
  | { rowCount: number; format: "csv" | "ndjson"; output: string };

/** Media types by their essence (no parameters), lower case. */
const FORMAT_BY_MEDIA_TYPE: Record<string, SourceFormat> = {
  "application/json": "json",
  "text/json": "json",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
  "application/x-jsonlines": "ndjson",
  "application/jsonlines": "ndjson",
  "text/csv": "csv",
  "application/csv": "csv",
};

const FORMAT_BY_EXTENSION: [string, SourceFormat][] = [
  [".json", "json"],
  [".ndjson", "ndjson"],
  [".jsonl", "ndjson"],
  [".csv", "csv"],
];

function invalidSource(message: string): TaskFailure {
  return new TaskFailure("invalid_source", message, false);
}

/** A header's value whatever the case of its name (HTTP names are case-insensitive). */
export function headerValue(headers: Record<string, string>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

function formatOfUrl(url: string): SourceFormat | undefined {
  let path: string;
  try {
    path = new URL(url).pathname.toLowerCase();
  } catch {
    return undefined;
  }
  return FORMAT_BY_EXTENSION.find(([ext]) => path.endsWith(ext))?.[1];
}

/**
 * The source format when the payload leaves it out: the response's content type, else the extension
 * of the first URL that has a known one (the one asked for, then the one that answered after
 * redirects), else `invalid_source`.
 */
export function detectSourceFormat(contentType: string | undefined, urls: string[]): SourceFormat {
  const essence = contentType?.split(";")[0]?.trim().toLowerCase();
  const byType = essence ? FORMAT_BY_MEDIA_TYPE[essence] : undefined;
  if (byType) return byType;
  for (const url of urls) {
    const byExtension = formatOfUrl(url);
    if (byExtension) return byExtension;
  }
  throw invalidSource(
    `cannot tell the source format from the content type (${essence || "none"}) or the URL; set sourceFormat to json, ndjson or csv`,
  );
}

/** Reads JSON text; the parser's own message is left out because it can quote the data. */
function parseJsonText(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw invalidSource(`${where} is not valid JSON`);
  }
}

function parseJsonArray(text: string): Row[] {
  const data = parseJsonText(text, "the source");
  if (!Array.isArray(data)) throw invalidSource("a json source must be an array of objects");
  data.forEach((item, i) => {
    if (!isRecord(item)) throw invalidSource(`a json source must be an array of objects; item ${i} is not an object`);
  });
  return data as Row[];
}

function parseNdjson(text: string): Row[] {
  const rows: Row[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const item = parseJsonText(line, `line ${i + 1}`);
    if (!isRecord(item)) throw invalidSource(`line ${i + 1} is not a JSON object`);
    rows.push(item);
  });
  return rows;
}

/** Header names as given; a repeated one would silently keep only its last column. */
function checkedHeader(names: string[]): string[] {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw invalidSource(`the CSV header names the column '${name}' twice`);
    seen.add(name);
  }
  return names;
}

function parseCsvText(text: string): Row[] {
  try {
    return parseCsv(text, { columns: checkedHeader, bom: true, skip_empty_lines: true }) as Row[];
  } catch (err) {
    if (err instanceof TaskFailure) throw err;
    // The code and line locate the problem; csv-parse's message can quote field contents.
    if (err instanceof CsvError)
      throw invalidSource(`the CSV source is malformed (${err.code} near line ${err.lines})`);
    throw err;
  }
}

/** The source's rows. Every format may start with a byte order mark. */
export function parseSource(text: string, format: SourceFormat): Row[] {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  switch (format) {
    case "json":
      return parseJsonArray(body);
    case "ndjson":
      return parseNdjson(body);
    case "csv":
      return parseCsvText(body);
  }
}

/** Nested objects become dotted keys (`user.country`), the CSV column names for nested fields. */
export function flattenRow(row: Row, prefix = "", into: Row = {}): Row {
  for (const [key, value] of Object.entries(row)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (isRecord(value)) flattenRow(value, name, into);
    else putField(into, name, value);
  }
  return into;
}

/** A CSV cell: text as is, numbers and booleans as JSON writes them, arrays as JSON, no value empty. */
function cellText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function toCsv(rows: Row[]): string {
  const flat = rows.map((row) => flattenRow(row));
  const columns = new Set<string>();
  for (const row of flat) for (const key of Object.keys(row)) columns.add(key);
  if (columns.size === 0) return "";
  const names = [...columns];
  // Rows go in as arrays: with objects, csv-stringify would read a dotted column name as a path.
  const records = flat.map((row) => names.map((name) => cellText(Object.hasOwn(row, name) ? row[name] : undefined)));
  return stringifyCsv(records, { header: true, columns: names });
}

/** The task's result: the rows in the asked-for format, and how many there are. */
export function formatOutput(rows: Row[], format: OutputFormat): DataProcessingResult {
  switch (format) {
    case "json":
      return { rowCount: rows.length, format, output: rows };
    case "csv":
      return { rowCount: rows.length, format, output: toCsv(rows) };
    case "ndjson":
      return { rowCount: rows.length, format, output: rows.map((row) => `${JSON.stringify(row)}\n`).join("") };
  }
}
