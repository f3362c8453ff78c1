import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "./embedded.ts";

// initdb plus a couple of server starts: seconds, not milliseconds.
const SLOW = 120_000;
const isRoot = process.getuid?.() === 0;
const cleanup: string[] = [];
const running: EmbeddedPostgres[] = [];

async function tempRoot(mode: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "conveyor-pg-"));
  // mkdtemp makes the folder 0700; the root-only fallback test wants exactly that, the others want it reachable.
  await chmod(dir, mode);
  cleanup.push(dir);
  return dir;
}

async function start(rootDir: string): Promise<EmbeddedPostgres> {
  const pg = await startEmbeddedPostgres({ dataRoot: rootDir });
  running.push(pg);
  return pg;
}

async function query<T extends readonly object[]>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await run(sql);
  } finally {
    await sql.end();
  }
}

afterAll(async () => {
  await Promise.allSettled(running.map((pg) => pg.stop()));
  await Promise.all(cleanup.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("startEmbeddedPostgres", () => {
  test(
    "initialises, serves queries, and reuses the data dir on the next start",
    async () => {
      const rootDir = await tempRoot(0o755);
      const first = await start(rootDir);
      expect(first.dataDir).toBe(join(rootDir, "postgres"));
      expect(first.port).toBeGreaterThanOrEqual(54329);
      expect(first.url).toBe(`postgres://postgres:postgres@127.0.0.1:${first.port}/postgres`);
      const [row] = await query(first.url, (sql) => sql`select 1 as one`);
      expect(row?.one).toBe(1);
      await query(first.url, (sql) => sql`create table kept (v text); insert into kept values ('survives')`.simple());
      await first.stop();
      await first.stop();

      const second = await start(rootDir);
      expect(second.dataDir).toBe(first.dataDir);
      const rows = await query(second.url, (sql) => sql`select v from kept`);
      expect(rows.map((r) => r.v)).toEqual(["survives"]);
      await second.stop();
    },
    SLOW,
  );

  test(
    "starts over a postmaster.pid left by a killed run",
    async () => {
      const rootDir = await tempRoot(0o755);
      const first = await start(rootDir);
      await first.stop();

      // The pid of a process that has certainly exited stands in for the dead postmaster.
      const gone = Bun.spawn(["true"]);
      await gone.exited;
      const pidFile = join(first.dataDir, "postmaster.pid");
      await writeFile(pidFile, `${gone.pid}\n${first.dataDir}\n0\n${first.port}\n\n127.0.0.1\n0 0\nready\n`);

      const second = await start(rootDir);
      const [row] = await query(second.url, (sql) => sql`select 1 as one`);
      expect(row?.one).toBe(1);
      expect(await readFile(pidFile, "utf8")).not.toStartWith(`${gone.pid}\n`);
      await second.stop();
    },
    SLOW,
  );

  test(
    "stops a server orphaned by a SIGKILLed process and starts its own",
    async () => {
      const rootDir = await tempRoot(0o755);
      const script = join(rootDir, "orphan.ts");
      const module = join(import.meta.dir, "embedded.ts");
      await writeFile(
        script,
        `import { startEmbeddedPostgres } from ${JSON.stringify(module)};\n` +
          `const pg = await startEmbeddedPostgres({ dataRoot: ${JSON.stringify(rootDir)} });\n` +
          "console.log(pg.port);\nsetInterval(() => {}, 1000);\n",
      );
      const owner = Bun.spawn(["bun", script], { cwd: import.meta.dir, stdout: "pipe", stderr: "inherit" });
      const reader = owner.stdout.getReader();
      const { value } = await reader.read();
      expect(Number(new TextDecoder().decode(value).trim())).toBeGreaterThan(0);
      owner.kill("SIGKILL");
      await owner.exited;

      const dataDir = join(rootDir, "postgres");
      const orphanPid = Number((await readFile(join(dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
      expect(() => process.kill(orphanPid, 0)).not.toThrow();

      const pg = await start(rootDir);
      const [row] = await query(pg.url, (sql) => sql`select 1 as one`);
      expect(row?.one).toBe(1);
      expect(Number((await readFile(join(dataDir, "postmaster.pid"), "utf8")).split("\n")[0])).not.toBe(orphanPid);
      await pg.stop();
    },
    SLOW,
  );

  test.if(isRoot)(
    "as root, falls back to /var/tmp when the postgres user cannot reach rootDir",
    async () => {
      const rootDir = await tempRoot(0o700);
      const pg = await start(rootDir);
      cleanup.push(join(pg.dataDir, ".."));
      expect(pg.dataDir).toMatch(/^\/var\/tmp\/conveyor-[0-9a-f]{12}\/postgres$/);
      expect(existsSync(join(pg.dataDir, "PG_VERSION"))).toBe(true);
      const [row] = await query(pg.url, (sql) => sql`select current_user as who`);
      expect(row?.who).toBe("postgres");
      await pg.stop();
    },
    SLOW,
  );
});
