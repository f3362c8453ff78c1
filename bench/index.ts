/**
 * `bun run bench [--quick] [--only=throughput,concurrency,submissions,latency] [--profile]`
 *
 * Runs each scenario against Conveyor and, in the same run, against raw BullMQ on the same
 * Redis (a queue and prefix of its own), prints the table and writes bench/results/<time>.json.
 * Services as the tests find them: DATABASE_URL / REDIS_URL, else embedded PostgreSQL and a
 * local Redis. Each scenario gets its own database and prefix and removes them afterwards.
 */
import { join } from "node:path";
import { stopTestServices, testServices } from "@conveyor/tests/harness";
import { profileChildren } from "./children.ts";
import type { BenchContext } from "./context.ts";
import { describeMachine } from "./machine.ts";
import { renderProfiles, summarizeProfiles } from "./profile-summary.ts";
import { type Row, renderMarkdown, renderTable, type ScenarioResult, writeResults } from "./report.ts";
import { concurrency } from "./scenarios/concurrency.ts";
import { latency } from "./scenarios/latency.ts";
import { submissions } from "./scenarios/submissions.ts";
import { throughput } from "./scenarios/throughput.ts";

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<ScenarioResult>> = {
  throughput,
  concurrency,
  submissions,
  latency,
};

const USAGE = `usage: bun run bench [--quick] [--only=${Object.keys(SCENARIOS).join(",")}] [--profile] [--markdown]
  --quick     small sizes (under two minutes)
  --only      run only these scenarios
  --profile   run the api and worker processes under bun --cpu-prof (profiles in bench/results/profiles/)
  --markdown  print the table as Markdown too`;

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
const known = /^--(quick|profile|markdown|only=[a-z,]+)$/;
const unknown = args.filter((a) => !known.test(a));
if (unknown.length > 0) {
  console.error(`unknown argument ${unknown.join(" ")}\n${USAGE}`);
  process.exit(2);
}
const quick = args.includes("--quick");
const only = args
  .find((a) => a.startsWith("--only="))
  ?.slice("--only=".length)
  .split(",")
  .filter(Boolean);
for (const name of only ?? []) {
  if (!SCENARIOS[name]) {
    console.error(`unknown scenario '${name}'\n${USAGE}`);
    process.exit(2);
  }
}

const resultsDir = join(import.meta.dir, "results");
const startedAt = new Date();
const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
const profileDir = join(resultsDir, "profiles", stamp);
const profile = args.includes("--profile");
if (profile) profileChildren(profileDir);

const log = (message: string) =>
  console.error(`[bench ${((performance.now() / 1000) | 0).toString().padStart(4)}s] ${message}`);
process.env.LOG_LEVEL ??= "warn";

const services = await testServices();
const machine = await describeMachine(services);
log(
  `${machine.cores} cores, ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, bun ${machine.bun}, ` +
    `Redis ${machine.redis}, PostgreSQL ${machine.postgres}${quick ? ", quick sizes" : ""}`,
);
const ctx: BenchContext = { quick, redisUrl: services.redisUrl, log };

const results: ScenarioResult[] = [];
for (const [name, run] of Object.entries(SCENARIOS)) {
  if (only && !only.includes(name)) continue;
  const started = performance.now();
  try {
    results.push(await run(ctx));
  } catch (err) {
    const message = (err as Error).stack ?? String(err);
    log(`${name} failed: ${message}`);
    results.push({ name, rows: [], figures: {}, error: (err as Error).message });
  }
  log(`${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
await stopTestServices();

const rows: Row[] = results.flatMap((r) =>
  r.error
    ? [
        {
          scenario: `${r.name}: FAILED (${r.error})`,
          unit: "",
          conveyor: null,
          raw: null,
          ratio: null,
          target: "",
          met: null,
        },
      ]
    : r.rows,
);
console.log(`\nConveyor vs raw BullMQ${quick ? " (--quick)" : ""}, ${machine.cores} cores, bun ${machine.bun}\n`);
console.log(renderTable(rows));
const notes = rows.filter((r) => r.note).map((r) => `  ${r.scenario}: ${r.note}`);
if (notes.length > 0) console.log(`\nnotes:\n${notes.join("\n")}`);
if (args.includes("--markdown")) console.log(`\n${renderMarkdown(rows)}`);
const profiles = profile ? summarizeProfiles(profileDir) : [];
if (profiles.length > 0) console.log(`\nCPU profiles (${profileDir}):\n\n${renderProfiles(profiles)}`);

const file = writeResults(resultsDir, startedAt, {
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  machine,
  options: {
    quick,
    only: only ?? null,
    profile: profile ? profileDir : null,
    database: process.env.DATABASE_URL ? "DATABASE_URL" : "embedded PostgreSQL",
    redis: process.env.REDIS_URL ? "REDIS_URL" : "local Redis",
  },
  rows,
  scenarios: results,
  profiles,
});
console.log(`\nresults: ${file}`);
process.exit(results.some((r) => r.error) ? 1 : 0);
