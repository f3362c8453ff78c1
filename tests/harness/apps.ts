import { projectRoot } from "@conveyor/core";
import type { TestStack } from "./stack.ts";
import { eventually } from "./wait.ts";

/**
 * The environment for a child process: this process's own (PATH, the services found for the
 * tests), without `omit`, with `extra` on top.
 */
export function childEnv(extra: Record<string, string>, omit: string[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !omit.includes(k)) env[k] = v;
  return Object.assign(env, extra);
}

/** One of the apps as a real process (`bun apps/<app>/src/index.ts`), as a container runs it. */
export interface AppProcess {
  proc: ReturnType<typeof Bun.spawn>;
  pid: number;
  /** Messages (`msg`) of the JSON log lines it has printed so far. */
  messages: string[];
  /** Resolves once a log line with this message has been printed. */
  logged(msg: string, timeoutMs?: number): Promise<void>;
  /** Its exit code. */
  exited: Promise<number>;
  /** SIGTERM, then SIGKILL if it is still there after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<number>;
}

/**
 * Starts `apps/<app>/src/index.ts` against the stack's database and queue prefix, with its own
 * environment on top (logs at `info`, so tests can wait for what it says).
 */
export function spawnApp(
  stack: TestStack,
  app: "worker" | "api" | "monitor",
  extra: Record<string, string>,
): AppProcess {
  const env = childEnv({
    DATABASE_URL: stack.db.url,
    REDIS_URL: stack.redis.url,
    QUEUE_PREFIX: stack.prefix,
    MIGRATE_ON_START: "false",
    WORKER_PORT: "0",
    // The test runs no reconciler of its own; the processes' stay out of the way.
    RECONCILE_INTERVAL_MS: "3600000",
    LOG_LEVEL: "info",
    ...extra,
  });
  const proc = Bun.spawn(["bun", `apps/${app}/src/index.ts`], {
    cwd: projectRoot(),
    env,
    stdout: "pipe",
    stderr: "inherit",
  });
  const messages: string[] = [];
  // Read stdout all along (a full pipe would block the process), keeping each line's message.
  void (async () => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      rest += decoder.decode(chunk, { stream: true });
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        try {
          const msg = (JSON.parse(line) as { msg?: unknown }).msg;
          if (typeof msg === "string") messages.push(msg);
        } catch {
          // Not a log line (the admin key banner, say).
        }
      }
    }
  })();
  const exited = proc.exited;
  return {
    proc,
    pid: proc.pid,
    messages,
    exited,
    async logged(msg, timeoutMs = 20_000) {
      await eventually(() => messages.includes(msg), { timeoutMs, what: `${app} to log '${msg}'` });
    },
    async stop(timeoutMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? -1;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export type NodeInfo = {
  id: string;
  pid: number;
  status: string;
  types: string[];
  active: number;
  concurrency: Record<string, number>;
};

/** `GET /v1/nodes` through the stack's api. */
export async function listNodes(stack: TestStack): Promise<NodeInfo[]> {
  return ((await (await stack.request("GET", "/v1/nodes")).json()) as { nodes: NodeInfo[] }).nodes;
}

/** Waits until the worker process has announced itself; returns its node. */
export function announced(stack: TestStack, worker: AppProcess, timeoutMs = 30_000): Promise<NodeInfo> {
  return eventually(async () => (await listNodes(stack)).find((n) => n.pid === worker.pid && n.status === "up"), {
    timeoutMs,
    intervalMs: 100,
    what: `worker process ${worker.pid} to announce itself`,
  });
}
