import {
  checkReadiness,
  ForbiddenError,
  type Logger,
  type Principal,
  pingAll,
  type RedisTarget,
  UnauthorizedError,
  ValidationError,
} from "@conveyor/core";
import { type Authenticator, callerOf, hasScope, SESSION_COOKIE, tenantFilter } from "@conveyor/scheduler";
import type { ServerWebSocket } from "bun";
import { type Context, Hono } from "hono";
import { createBunWebSocket } from "hono/bun";
import { getCookie } from "hono/cookie";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import { CLIENT_QUEUE_LIMIT, ClientQueue, type Outgoing } from "./client-queue.ts";
import { errorBody, errorHandler, notFound } from "./errors.ts";
import {
  compareStreamIds,
  type EventFilter,
  EventRelay,
  isStreamId,
  matches,
  type RelayedEvent,
} from "./event-relay.ts";
import { MetricsFeed, type MetricsSource } from "./metrics-feed.ts";
import { createMonitorMetrics, prometheusRoutes } from "./prometheus.ts";
import { proxyToApi } from "./proxy.ts";

export interface MonitorDeps {
  /** Resolves bearer keys and session cookies (`createAuthenticator`). */
  authenticator: Authenticator;
  redis: RedisTarget;
  queuePrefix: string;
  /** Where `/v1/*` is proxied to (API_URL). */
  apiUrl: string;
  /** A tenant's task figures (null: every tenant), e.g. `scheduler.metrics({tenant, window: "1m"})`. */
  metrics: MetricsSource;
  log: Logger;
  /** `GET /metrics` (METRICS_ENABLED); default true. */
  metricsEnabled?: boolean;
  /** Origins allowed to open `/ws` besides the monitor's own host. */
  allowedOrigins?: string[];
  /** Messages that may wait for one slow client before it is dropped; default 1,000. */
  clientQueueLimit?: number;
}

/** How often an open stream re-checks its key or session, so a revoked one is cut off within 5 s. */
const RECHECK_MS = 2000;
/** How often an SSE stream sends a comment line to keep proxies from closing it. */
const KEEPALIVE_MS = 5000;
/** Bytes a WebSocket may have waiting in Bun's send buffer before the client is dropped as too slow. */
const WS_MAX_BUFFERED_BYTES = 1024 * 1024;

const Filters = z.strictObject({
  type: z.string().min(1).max(63).optional(),
  taskId: z.string().min(1).max(100).optional(),
});
const SubscribeFrame = z.strictObject({ subscribe: Filters });

interface Caller {
  principal: Principal;
  /** Resolves the same credentials again: false once the key or session is no longer valid. */
  stillValid: () => Promise<boolean>;
}

type Vars = { Variables: { caller: Caller } };

/** The dashboard's sources (apps/monitor/web), bundled once on first request and kept in memory. */
const WEB_DIR = new URL("../web/", import.meta.url).pathname;
/** Only the monitor's own script, styles and API: no inline code, nothing from elsewhere. */
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

interface WebAssets {
  html: string;
  js: string;
  css: string;
}

let webAssets: Promise<WebAssets> | undefined;

/** Builds the dashboard (TypeScript bundled for the browser) once; a failed build is retried on the next request. */
function loadWebAssets(): Promise<WebAssets> {
  webAssets ??= (async () => {
    const built = await Bun.build({ entrypoints: [`${WEB_DIR}app.ts`], target: "browser", minify: true });
    const out = built.outputs[0];
    if (!built.success || !out) throw new Error(built.logs.map(String).join("\n") || "the dashboard did not build");
    const [html, js, css] = await Promise.all([
      Bun.file(`${WEB_DIR}index.html`).text(),
      out.text(),
      Bun.file(`${WEB_DIR}app.css`).text(),
    ]);
    return { html, js, css };
  })().catch((err: unknown) => {
    webAssets = undefined;
    throw err;
  });
  return webAssets;
}

/**
 * The monitor: one shared reader of the event stream fanned out to SSE and WebSocket clients
 * (filtered by tenant, type and task id), the API proxied under `/v1`, and its own metrics.
 */
export function createMonitor(deps: MonitorDeps) {
  const { log } = deps;
  const limit = deps.clientQueueLimit ?? CLIENT_QUEUE_LIMIT;
  const relay = new EventRelay(deps.redis, deps.queuePrefix, log);
  const feed = new MetricsFeed(deps.metrics, log);
  const prom = createMonitorMetrics();
  relay.onEvent = () => prom.events.inc();
  const ready = relay.start().catch((err) => log.error({ err: (err as Error).message }, "event reader not started"));
  /** How to end every open client when the monitor closes. */
  const open = new Set<() => void>();
  const { upgradeWebSocket, websocket } = createBunWebSocket();

  const app = new Hono<Vars>();
  app.onError(errorHandler(log));
  app.notFound(notFound);

  if (deps.metricsEnabled ?? true) app.route("/", prometheusRoutes(prom.registry));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const { ready: ok, checks } = await checkReadiness({ redis: () => pingAll(relay.commands) });
    return c.json({ status: ok ? "ready" : "unavailable", checks }, ok ? 200 : 503);
  });
  const asset = (kind: keyof WebAssets, type: string) => async (c: Context<Vars>) => {
    const body = (await loadWebAssets())[kind];
    return c.body(body, 200, {
      "content-type": type,
      "cache-control": "no-cache",
      "content-security-policy": PAGE_CSP,
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
    });
  };
  app.get("/", asset("html", "text/html; charset=utf-8"));
  app.get("/assets/app.js", asset("js", "text/javascript; charset=utf-8"));
  app.get("/assets/app.css", asset("css", "text/css; charset=utf-8"));
  app.all("/v1/*", proxyToApi(deps.apiUrl, log));

  const authenticate = async (c: Context<Vars>, next: () => Promise<void>) => {
    const header = c.req.header("authorization");
    const cookie = getCookie(c, SESSION_COOKIE);
    const principal = await callerOf(deps.authenticator, header, cookie);
    if (!hasScope(principal, "tasks:read")) throw new ForbiddenError("this key may not read tasks");
    const stillValid = () =>
      callerOf(deps.authenticator, header, cookie).then(
        () => true,
        // Only a refused key ends a stream; a database hiccup does not.
        (err) => !(err instanceof UnauthorizedError),
      );
    c.set("caller", { principal, stillValid });
    await next();
  };

  const parseFilters = (c: Context<Vars>, tenant: string | null): EventFilter => {
    const parsed = Filters.safeParse(c.req.query());
    if (!parsed.success) {
      throw new ValidationError(
        "the query is not valid",
        parsed.error.issues.map((i) => ({ path: i.path as (string | number)[], code: i.code, message: i.message })),
      );
    }
    return { tenant, ...parsed.data };
  };

  app.get("/events", authenticate, (c) => {
    const { principal, stillValid } = c.get("caller");
    const filter = parseFilters(c, tenantFilter(principal));
    const lastEventId = c.req.header("last-event-id")?.trim() || undefined;
    if (lastEventId !== undefined && !isStreamId(lastEventId)) {
      throw new ValidationError("Last-Event-ID is not an event id");
    }
    return streamSSE(c, async (stream) => {
      const queue = new ClientQueue(limit, (overflowed) => {
        if (!overflowed) return;
        prom.dropped.inc({ kind: "sse" });
        log.info({ tenant: principal.tenant }, "SSE client dropped: it read too slowly");
        // Ends a write that waits on a client which stopped reading.
        stream.abort();
      });
      const end = () => queue.close();
      open.add(end);
      stream.onAbort(end);
      prom.clients.inc({ kind: "sse" });
      // Live events are held back while the replay runs, then only those after it are sent.
      let held: RelayedEvent[] | undefined = lastEventId === undefined ? undefined : [];
      const toClient = (e: RelayedEvent) => {
        if (!matches(filter, e.event)) return;
        if (held) {
          // A replay slower than the live stream drops the client like any slow reader.
          if (held.length >= limit) {
            queue.overflowed = true;
            return queue.close();
          }
          held.push(e);
        } else queue.push({ event: "task", id: e.id, json: e.json });
      };
      const unsubscribe = relay.subscribe(toClient);
      let unsubscribeMetrics = () => {};
      const keepalive = setInterval(
        () => queue.push({ event: "comment", id: null, data: "keep-alive" }, true),
        KEEPALIVE_MS,
      );
      const recheck = setInterval(async () => {
        if (!(await stillValid())) queue.close();
      }, RECHECK_MS);
      try {
        await ready;
        await stream.write(": connected\n\n");
        if (held && lastEventId !== undefined) {
          let last = lastEventId;
          try {
            last = await relay.replay(lastEventId, async (e) => {
              if (queue.closed) return false;
              if (matches(filter, e.event)) await stream.writeSSE({ event: "task", id: e.id, data: e.json });
              return true;
            });
          } catch (err) {
            log.warn({ err: (err as Error).message }, "replay failed; going live");
          }
          const after = held.filter((e) => compareStreamIds(e.id, last) > 0);
          held = undefined;
          for (const e of after) queue.push({ event: "task", id: e.id, json: e.json });
        }
        unsubscribeMetrics = feed.subscribe(filter.tenant, (data) => queue.push({ event: "metrics", id: null, data }));
        for (;;) {
          const item = await queue.next();
          if (!item) break;
          await writeSse(stream, item);
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, "SSE stream ended by an error");
      } finally {
        clearInterval(keepalive);
        clearInterval(recheck);
        unsubscribe();
        unsubscribeMetrics();
        open.delete(end);
        queue.close();
        prom.clients.dec({ kind: "sse" });
      }
    });
  });

  app.get(
    "/ws",
    async (c, next) => {
      // Browsers send cookies with a cross-site WebSocket upgrade: only the monitor's own pages may open one.
      const origin = c.req.header("origin");
      if (origin !== undefined && !originAllowed(origin, c.req.header("host"), deps.allowedOrigins ?? [])) {
        throw new ForbiddenError("this origin may not open a WebSocket here");
      }
      await next();
    },
    authenticate,
    upgradeWebSocket((c) => {
      const { principal, stillValid } = c.get("caller");
      const tenant = tenantFilter(principal);
      let filter: EventFilter | undefined;
      let raw: ServerWebSocket | undefined;
      let closed = false;
      const cleanups: (() => void)[] = [];
      const drop = (code: number, reason: string) => {
        if (closed) return;
        raw?.close(code, reason);
      };
      /** Sends one frame's JSON text. */
      const send = (frame: string) => {
        if (closed || !raw) return;
        if (raw.getBufferedAmount() > WS_MAX_BUFFERED_BYTES) {
          prom.dropped.inc({ kind: "ws" });
          log.info({ tenant: principal.tenant }, "WebSocket client dropped: it read too slowly");
          return drop(1013, "too slow; reconnect");
        }
        raw.send(frame);
      };
      const subscribe = () => {
        cleanups.push(
          relay.subscribe((e) => {
            // The event's text is spliced in as published, not parsed and serialized again per client.
            if (filter && matches(filter, e.event))
              send(`{"event":"task","id":${JSON.stringify(e.id)},"data":${e.json}}`);
          }),
          feed.subscribe(tenant, (data) => send(JSON.stringify({ event: "metrics", id: null, data }))),
        );
      };
      return {
        onOpen(_evt, ws) {
          raw = ws.raw as ServerWebSocket;
          prom.clients.inc({ kind: "ws" });
          const end = () => drop(1001, "monitor closing");
          open.add(end);
          const recheck = setInterval(async () => {
            if (!(await stillValid())) drop(1008, "the key or session is no longer valid");
          }, RECHECK_MS);
          cleanups.push(
            () => open.delete(end),
            () => clearInterval(recheck),
          );
        },
        onMessage(evt) {
          const invalid = (message: string) =>
            send(JSON.stringify({ event: "error", data: { code: "validation_failed", message } }));
          if (typeof evt.data !== "string") return invalid("send frames as JSON text");
          let json: unknown;
          try {
            json = JSON.parse(evt.data);
          } catch {
            return invalid("the frame is not JSON");
          }
          const parsed = SubscribeFrame.safeParse(json);
          if (!parsed.success) return invalid('expected {"subscribe": {"type"?: string, "taskId"?: string}}');
          const first = filter === undefined;
          filter = { tenant, ...parsed.data.subscribe };
          if (first) subscribe();
        },
        onClose() {
          if (closed) return;
          closed = true;
          for (const fn of cleanups) fn();
          prom.clients.dec({ kind: "ws" });
        },
      };
    }),
    (c) => c.json(errorBody("validation_failed", "GET /ws expects a WebSocket upgrade"), 400),
  );

  return {
    app,
    websocket,
    /** Resolves once the shared event reader is listening. */
    ready: () => ready,
    /** Ends every client stream and the shared reader. */
    async close() {
      for (const end of [...open]) end();
      feed.stop();
      await relay.close();
    },
  };
}

export type Monitor = ReturnType<typeof createMonitor>;

async function writeSse(
  stream: {
    write(s: string): Promise<unknown>;
    writeSSE(m: { event: string; id?: string; data: string }): Promise<void>;
  },
  item: Outgoing,
): Promise<void> {
  if (item.event === "comment") await stream.write(`: ${item.data}\n\n`);
  else if (item.event === "task") await stream.writeSSE({ event: "task", id: item.id, data: item.json });
  else await stream.writeSSE({ event: "metrics", data: JSON.stringify(item.data) });
}

/** True when `origin` is the request's own host or one of the allowed origins. */
function originAllowed(origin: string, host: string | undefined, allowed: string[]): boolean {
  if (allowed.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}
