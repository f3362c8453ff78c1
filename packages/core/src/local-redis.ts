import { mkdir } from "node:fs/promises";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import type { Logger } from "./logger.ts";

/** A Redis for dev and tests: one already running, or a redis-server we started. */
export interface LocalRedis {
  url: string;
  spawned: boolean;
  stop(): Promise<void>;
}

const HOW_TO_GET_REDIS = "install redis-server (apt-get install redis-server / brew install redis) or set REDIS_URL";

/** No usable Redis on the local port, and none could be started. */
export class RedisUnavailableError extends Error {
  override name = "RedisUnavailableError";
  constructor(reason: string) {
    super(`${reason}; ${HOW_TO_GET_REDIS}`);
  }
}

const DEFAULT_PORT = 6379;
const PROBE_TIMEOUT_MS = 500;
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 50;
const LOG_TAIL_LINES = 20;

type Probe = { kind: "nothing" } | { kind: "silent" } | { kind: "reply"; line: string };

/**
 * Uses the Redis answering PING on 127.0.0.1:`port` (default 6379), else starts redis-server there with
 * data in `<dataRoot>/redis`, else throws RedisUnavailableError.
 */
export async function resolveLocalRedis(opts: {
  dataRoot: string;
  log?: Logger;
  port?: number;
  /** PATH lookup, replaceable in tests; defaults to Bun.which. */
  which?: (command: string) => string | null;
}): Promise<LocalRedis> {
  const port = opts.port ?? DEFAULT_PORT;
  const url = `redis://127.0.0.1:${port}`;
  const found = await probe(port);
  if (found.kind === "reply") {
    // -LOADING: a Redis replaying its AOF after a restart; it will answer PONG shortly.
    if (found.line.startsWith("-LOADING")) await waitForPong(port, READY_TIMEOUT_MS, () => undefined);
    else if (found.line !== "+PONG") {
      throw new RedisUnavailableError(
        `127.0.0.1:${port} answered PING with ${JSON.stringify(found.line.slice(0, 80))} (a password-protected Redis?)`,
      );
    }
    opts.log?.info({ port }, "using the Redis already running");
    return { url, spawned: false, stop: async () => {} };
  }
  if (found.kind === "silent") {
    throw new RedisUnavailableError(`something listens on 127.0.0.1:${port} but does not answer PING like Redis`);
  }

  const binary = (opts.which ?? Bun.which)("redis-server");
  if (!binary) {
    throw new RedisUnavailableError(`nothing answers PING on 127.0.0.1:${port} and redis-server is not on PATH`);
  }
  return spawnRedis(binary, port, resolve(opts.dataRoot), opts.log);
}

async function spawnRedis(
  binary: string,
  port: number,
  dataRoot: string,
  log: Logger | undefined,
): Promise<LocalRedis> {
  const dataDir = join(dataRoot, "redis");
  await mkdir(dataDir, { recursive: true });
  const began = performance.now();
  const child = Bun.spawn(
    [
      binary,
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dataDir,
      // Queues must never lose jobs to eviction; the AOF keeps dev data across restarts, no RDB snapshots.
      "--maxmemory-policy",
      "noeviction",
      "--save",
      "",
      "--appendonly",
      "yes",
      "--daemonize",
      "no",
    ],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  const tail: string[] = [];
  void drain(child.stdout, tail, log);
  void drain(child.stderr, tail, log);

  const exited = () => child.exitCode !== null || child.signalCode !== null;
  try {
    await waitForPong(port, READY_TIMEOUT_MS, () => {
      if (exited()) throw new Error(`redis-server exited with code ${child.exitCode ?? child.signalCode}`);
    });
  } catch (err) {
    if (!exited()) child.kill("SIGKILL");
    await child.exited;
    const reason = err instanceof Error ? err.message : String(err);
    throw new RedisUnavailableError(`could not start redis-server on 127.0.0.1:${port}: ${reason}\n${tail.join("\n")}`);
  }
  log?.info({ port, dataDir, ms: Math.round(performance.now() - began) }, "started redis-server");

  // 'exit' cannot wait, so it only signals; SIGTERM makes redis fsync the AOF and shut down cleanly.
  const onExit = () => {
    if (!exited()) child.kill("SIGTERM");
  };
  process.on("exit", onExit);
  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    spawned: true,
    stop() {
      stopping ??= (async () => {
        process.off("exit", onExit);
        if (exited()) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await child.exited;
        clearTimeout(timer);
        log?.info({ port }, "stopped redis-server");
      })();
      return stopping;
    },
  };
}

/** Polls PING until +PONG; `check` may throw to give up early (e.g. the server process died). */
async function waitForPong(port: number, timeoutMs: number, check: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  for (;;) {
    check();
    const found = await probe(port);
    if (found.kind === "reply" && found.line === "+PONG") return;
    last = found.kind === "reply" ? found.line : found.kind === "silent" ? "connected, no answer" : "no answer";
    if (Date.now() > deadline) throw new Error(`no PONG within ${timeoutMs} ms (last: ${last})`);
    await Bun.sleep(POLL_MS);
  }
}

/** Sends one PING over a raw socket and reports the first reply line. */
function probe(port: number): Promise<Probe> {
  return new Promise((done) => {
    const socket = connect({ host: "127.0.0.1", port });
    let connected = false;
    let buffer = "";
    let settled = false;
    const finish = (result: Probe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done(result);
    };
    const noReply = () => finish(connected ? { kind: "silent" } : { kind: "nothing" });
    const timer = setTimeout(noReply, PROBE_TIMEOUT_MS);
    socket.setEncoding("utf8");
    socket.on("connect", () => {
      connected = true;
      socket.write("*1\r\n$4\r\nPING\r\n");
    });
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      const end = buffer.indexOf("\r\n");
      if (end >= 0) finish({ kind: "reply", line: buffer.slice(0, end) });
    });
    socket.on("error", noReply);
    socket.on("close", noReply);
  });
}

async function drain(stream: ReadableStream<Uint8Array>, tail: string[], log: Logger | undefined): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      log?.debug({ component: "redis-server" }, line);
    }
  }
}
