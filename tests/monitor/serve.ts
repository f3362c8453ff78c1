import { createLogger } from "@conveyor/core";
import { createMonitor, type Monitor } from "@conveyor/monitor";
import { createAuthenticator } from "@conveyor/scheduler";
import { TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";

/** A monitor over a test stack, served on a free port, with the stack's api served too (for the proxy). */
export interface ServedMonitor {
  monitor: Monitor;
  url: string;
  close(): Promise<void>;
}

/** Builds a monitor through its factory and serves it (and the stack's api, which `/v1/*` proxies to). */
export async function serveMonitor(
  stack: TestStack,
  opts: { apiUrl?: string; allowedOrigins?: string[]; clientQueueLimit?: number } = {},
): Promise<ServedMonitor> {
  const api = opts.apiUrl ? undefined : Bun.serve({ port: 0, fetch: stack.app.fetch });
  const monitor = createMonitor({
    authenticator: createAuthenticator({ keys: stack.runtime.keys, adminKey: TEST_ADMIN_KEY }),
    redis: stack.redis,
    queuePrefix: stack.prefix,
    apiUrl: opts.apiUrl ?? `http://127.0.0.1:${api?.port}`,
    metrics: (tenant) => stack.runtime.scheduler.metrics({ tenant, window: "1m" }),
    log: createLogger("test-monitor", process.env.TEST_LOG_LEVEL ?? "silent"),
    allowedOrigins: opts.allowedOrigins,
    clientQueueLimit: opts.clientQueueLimit,
  });
  const server = Bun.serve({ port: 0, fetch: monitor.app.fetch, websocket: monitor.websocket, idleTimeout: 0 });
  await monitor.ready();
  return {
    monitor,
    url: `http://127.0.0.1:${server.port}`,
    async close() {
      await monitor.close();
      await server.stop(true);
      await api?.stop(true);
    },
  };
}

export interface SseEvent {
  event?: string;
  id?: string;
  data: string;
}

/** One event block (the lines before a blank line); null for a comment-only block. */
export function parseSseBlock(block: string): SseEvent | null {
  const e: SseEvent = { data: "" };
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") e.event = value;
    else if (field === "id") e.id = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0 && !e.event) return null;
  e.data = data.join("\n");
  return e;
}

/** An SSE client over fetch: collects every event it reads until closed. */
export interface SseClient {
  status: number;
  events: SseEvent[];
  /** True once the server ended the stream. */
  ended: () => boolean;
  tasks(): { id: string; data: { id: string; tenant: string; type: string; status: string } }[];
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers, signal: ctrl.signal });
  const events: SseEvent[] = [];
  let ended = false;
  if (res.ok && res.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buf = "";
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          for (let cut = buf.indexOf("\n\n"); cut >= 0; cut = buf.indexOf("\n\n")) {
            const e = parseSseBlock(buf.slice(0, cut));
            buf = buf.slice(cut + 2);
            if (e) events.push(e);
          }
        }
      } catch {
        // aborted by close()
      }
      ended = true;
    })();
  }
  return {
    status: res.status,
    events,
    ended: () => ended,
    tasks: () => events.filter((e) => e.event === "task").map((e) => ({ id: e.id ?? "", data: JSON.parse(e.data) })),
    close: () => ctrl.abort(),
  };
}
