import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** One line of the table: a figure for Conveyor, the same for raw BullMQ, and the target. */
export interface Row {
  scenario: string;
  unit: string;
  conveyor: number | null;
  raw: number | null;
  /** Conveyor / raw. */
  ratio: number | null;
  /** How the target reads, e.g. ">= 0.5x raw (aim 0.8x)". */
  target: string;
  /** null: no target, or nothing measured. */
  met: boolean | null;
  note?: string;
}

/** What one scenario hands back: its rows and every figure it measured. */
export interface ScenarioResult {
  name: string;
  rows: Row[];
  figures: Record<string, unknown>;
  error?: string;
}

export function ratio(conveyor: number | null, raw: number | null): number | null {
  return conveyor === null || raw === null || raw === 0 ? null : conveyor / raw;
}

function number(value: number, unit: string): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const text = value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return unit ? `${text} ${unit}` : text;
}

function cells(row: Row): string[] {
  return [
    row.scenario,
    row.conveyor === null ? "-" : number(row.conveyor, row.unit),
    row.raw === null ? "-" : number(row.raw, row.unit),
    row.ratio === null ? "-" : `${row.ratio.toFixed(2)}x`,
    row.target || "-",
    row.met === null ? "-" : row.met ? "met" : "NOT met",
  ];
}

const HEADER = ["scenario", "Conveyor", "raw BullMQ", "ratio", "target", "met?"];

/** The table as aligned plain text. */
export function renderTable(rows: Row[]): string {
  const lines = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (l: string[]) =>
    l.map((c, i) => (i === 0 || i >= 4 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [fmt(lines[0] ?? HEADER), widths.map((w) => "-".repeat(w)).join("  "), ...lines.slice(1).map(fmt)].join("\n");
}

/** The table as Markdown, for docs/performance.md. */
export function renderMarkdown(rows: Row[]): string {
  const line = (l: string[]) => `| ${l.join(" | ")} |`;
  return [line(HEADER), line(HEADER.map(() => "---")), ...rows.map((r) => line(cells(r)))].join("\n");
}

/** Writes `bench/results/<ISO time>.json`; returns its path. */
export function writeResults(dir: string, startedAt: Date, content: unknown): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  return file;
}
