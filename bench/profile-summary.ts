import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** A Chrome-format CPU profile, as `bun --cpu-prof` writes it. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  /** Samples taken while JavaScript ran (about 1 ms of CPU each at the default interval). */
  samples: number;
  /**
   * Self time by package. Time in Bun itself (native code, node: modules: sockets, buffers,
   * JSON) counts for the nearest caller in a package, so a package's share is what it costs.
   */
  byPackage: { name: string; samples: number; share: number }[];
  /** Share of samples whose innermost frame is Bun itself (native code or a node: module). */
  runtimeShare: number;
  /** Conveyor's own functions by inclusive time (everything they and their callees ran). */
  conveyorInclusive: { name: string; samples: number; share: number }[];
}

/** Which package a source URL belongs to: the npm package, `@conveyor/<dir>` or `bench`. */
function packageOf(url: string): string | null {
  if (!url || url === "[native code]") return null;
  const npm = /node_modules\/(?:\.bun\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (npm?.[1]) return npm[1];
  const own = /\/(apps|packages)\/([^/]+)\//.exec(url);
  if (own?.[2]) return `@conveyor/${own[2]}`;
  if (url.includes("/bench/")) return "bench (instrumentation)";
  if (url.startsWith("node:") || url.startsWith("internal:")) return null;
  return "other";
}

/** Reads one profile and attributes its samples to packages and to Conveyor's functions. */
export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const packages = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let inRuntime = 0;
  for (const leaf of profile.samples) {
    if (packageOf(byId.get(leaf)?.callFrame.url ?? "") === null) inRuntime++;
    let pkg: string | null = null;
    const seen = new Set<string>();
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (!frame) break;
      const p = packageOf(frame.url);
      pkg ??= p;
      if (p?.startsWith("@conveyor/") && frame.functionName) {
        const name = `${frame.functionName.replace(/^async /, "")} (${p}/${frame.url.split("/").pop()})`;
        if (!seen.has(name)) {
          seen.add(name);
          inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
        }
      }
    }
    const key = pkg ?? "Bun with no JS caller (HTTP server, GC, timers)";
    packages.set(key, (packages.get(key) ?? 0) + 1);
  }
  const total = profile.samples.length;
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, samples]) => ({ name, samples, share: Math.round((samples / total) * 1000) / 10 }));
  return {
    file,
    samples: total,
    byPackage: rank(packages),
    runtimeShare: Math.round((inRuntime / total) * 1000) / 10,
    conveyorInclusive: rank(inclusive),
  };
}

/** Summaries of every `.cpuprofile` in `dir`. */
export function summarizeProfiles(dir: string): ProfileSummary[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  } catch {
    return [];
  }
  return files
    .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10))
    .map((f) => summarizeProfile(join(dir, f)));
}

/** The summaries as text for the terminal. */
export function renderProfiles(summaries: ProfileSummary[]): string {
  return summaries
    .map((s) => {
      const lines = [`${s.file.split("/").pop()}: ${s.samples} samples, ${s.runtimeShare}% inside Bun itself`];
      lines.push("  CPU by package (Bun's own time counted for its caller):");
      for (const p of s.byPackage.slice(0, 8)) lines.push(`    ${p.share.toFixed(1).padStart(5)}%  ${p.name}`);
      lines.push("  Conveyor functions, inclusive:");
      for (const p of s.conveyorInclusive.slice(0, 10)) lines.push(`    ${p.share.toFixed(1).padStart(5)}%  ${p.name}`);
      return lines.join("\n");
    })
    .join("\n\n");
}
