// The Conveyor dashboard: one page, routed by location.hash, talking to `/v1/*` (proxied to the API)
// with the session cookie, and live through `GET /events` (SSE). Every value from the server is
// put into the page as text (never as HTML).

// The API's and the monitor's own shapes, as types only: erased from the bundle, so nothing
// server-side reaches the browser.
import type { TaskStatus as Status, TaskEvent } from "@conveyor/core";
import type { Task as ApiTask, Attempt, QueueView as Queue, Schedule, SeriesPoint } from "@conveyor/scheduler";
import type { LiveMetrics } from "../src/metrics-feed.ts";

/** A task as the API shows it; every status it reports is one of ours. */
type Task = Omit<ApiTask, "status"> & { status: Status };
type Timing = LiveMetrics["runTimeMs"];

const STATUSES: Status[] = ["queued", "delayed", "running", "completed", "failed", "cancelled"];
const CANCELLABLE: Status[] = ["queued", "delayed", "running"];
const RETRYABLE: Status[] = ["failed", "cancelled"];

interface LogLine {
  at: string;
  level: string;
  message: string;
  attempt: number;
}
interface Whoami {
  tenant: string;
  name: string;
  scopes: string[];
}
type Summary = Record<Status, number>;
interface FailureGroup {
  type: string;
  code: string;
  message: string;
  count: number;
  lastAt: string;
  sampleTaskId: string;
}
interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  description?: string;
}
interface TaskType {
  type: string;
  description: string;
  payloadSchema: JsonSchema;
  defaults: Record<string, unknown>;
}
type RateLimit = NonNullable<Queue["rateLimit"]>;
interface WorkerNode {
  id: string;
  host: string;
  pid: number;
  version: string;
  startedAt: string;
  lastSeenAt: string;
  status: string;
  types: string[];
  concurrency: number;
  active: number;
  rssBytes: number | null;
  eventLoopLagMs: number | null;
}
const PRIORITIES = ["critical", "high", "normal", "low"];

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// ---------- tiny DOM helpers ----------

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el: HTMLElement, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "object" ? c : String(c));
  }
}

function replace(el: HTMLElement, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

const stateText = (text: string, kind: "loading" | "empty" | "error" = "empty") =>
  h("p", { class: kind === "error" ? "state error" : "state", "data-state": kind }, text);

/** A page's status line, hidden until the first `say`: the outcome of the last action, in red when it failed. */
function statusNotice(id: string): { notice: HTMLElement; say: (error: boolean, ...text: Child[]) => void } {
  const notice = h("p", { id, class: "notice", role: "status" });
  notice.hidden = true;
  const say = (error: boolean, ...text: Child[]) => {
    notice.hidden = false;
    notice.className = error ? "notice error-text" : "notice";
    replace(notice, ...text);
  };
  return { notice, say };
}

const shortId = (id: string) => id.slice(-12);
const idCell = (id: string) => h("span", { class: "mono", title: id }, shortId(id));
const statusBadge = (s: Status) => h("span", { class: `status ${s}`, "data-status": s }, s);

function progressBar(p: number | null, big = false): HTMLElement {
  const pct = Math.max(0, Math.min(100, p ?? 0));
  const fill = h("div", {});
  // Set through the CSSOM: the page's CSP refuses inline style attributes.
  fill.style.width = `${pct}%`;
  return h(
    "div",
    { class: big ? "progress big" : "progress", role: "progressbar", "aria-valuenow": pct, title: `${pct}%` },
    fill,
  );
}

function fmtTime(iso: string | null): HTMLElement | string {
  if (!iso) return "—";
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return h("span", { title: iso }, sameDay ? d.toLocaleTimeString() : d.toLocaleString());
}

function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

const fmtJson = (v: unknown) => (v === undefined ? "—" : JSON.stringify(v, null, 2));

// ---------- API ----------

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "the monitor cannot be reached");
  }
  if (res.status === 204) return undefined as T;
  const json = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
  if (!res.ok) {
    const message = json?.error?.message ?? `${res.status} ${res.statusText}`;
    if (res.status === 401 && path !== "/v1/sessions")
      showLogin(me ? "Your session has ended. Log in again." : undefined);
    throw new ApiError(res.status, message);
  }
  return json as T;
}

const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

// ---------- app state ----------

const root = document.getElementById("root") as HTMLElement;
let me: Whoami | null = null;
let events: EventSource | null = null;
let liveBadge: HTMLElement | null = null;
let view: { teardown?: () => void; onTask?: (e: TaskEvent) => void; onMetrics?: (m: LiveMetrics) => void } = {};
let lastMetrics: LiveMetrics | null = null;

const canWrite = () => !!me && (me.scopes.includes("tasks:write") || me.scopes.includes("admin"));
const isAdmin = () => !!me && me.scopes.includes("admin");

function setLive(state: "on" | "off" | "connecting") {
  if (!liveBadge) return;
  liveBadge.className = `live ${state}`;
  liveBadge.textContent = state === "on" ? "live" : state === "off" ? "offline — retrying" : "connecting…";
}

function openEvents(): void {
  events?.close();
  setLive("connecting");
  const es = new EventSource("/events");
  events = es;
  es.addEventListener("open", () => setLive("on"));
  es.addEventListener("task", (e) => view.onTask?.(JSON.parse((e as MessageEvent<string>).data) as TaskEvent));
  es.addEventListener("metrics", (e) => {
    lastMetrics = JSON.parse((e as MessageEvent<string>).data) as LiveMetrics;
    view.onMetrics?.(lastMetrics);
  });
  es.addEventListener("error", () => {
    if (events !== es) return;
    setLive("off");
    if (es.readyState === EventSource.CLOSED) {
      // A refused stream (401) is not retried by the browser: find out why, then try again or log in.
      window.setTimeout(async () => {
        if (events !== es) return;
        try {
          await api<Whoami>("GET", "/v1/whoami");
          openEvents();
        } catch {
          // a 401 already showed the login; otherwise the next attempt comes from here again
          if (events === es && me) window.setTimeout(() => events === es && openEvents(), 3000);
        }
      }, 1000);
    }
  });
}

function closeEvents(): void {
  events?.close();
  events = null;
}

// ---------- login ----------

function showLogin(notice?: string): void {
  me = null;
  closeEvents();
  view.teardown?.();
  view = {};
  const key = h("input", {
    type: "password",
    name: "apiKey",
    id: "api-key",
    placeholder: "API key",
    autocomplete: "off",
    required: true,
  }) as HTMLInputElement;
  const message = h("p", { class: "error-text", role: "alert" }, notice ?? "");
  const submit = h("button", { class: "primary", type: "submit" }, "Log in") as HTMLButtonElement;
  const form = h(
    "form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        submit.disabled = true;
        message.textContent = "Logging in…";
        try {
          await api("POST", "/v1/sessions", { apiKey: key.value });
          key.value = "";
          await start();
        } catch (err) {
          message.textContent =
            err instanceof ApiError && err.status === 401 ? "That key is not valid." : errorMessage(err);
          submit.disabled = false;
        }
      },
    },
    h("label", { for: "api-key" }, "API key"),
    key,
    submit,
    message,
  );
  replace(
    root,
    h(
      "div",
      { class: "login panel", id: "login" },
      h("h1", {}, "Conveyor monitor"),
      h("p", {}, "Log in with an API key. It is exchanged for a session cookie and not kept by this page."),
      form,
    ),
  );
  key.focus();
}

async function logout(): Promise<void> {
  try {
    await api("DELETE", "/v1/sessions/current");
  } catch {
    // logged out either way
  }
  showLogin();
}

// ---------- shell and routing ----------

let mainEl: HTMLElement | null = null;
const navLinks: Record<string, HTMLElement> = {};

function renderShell(): void {
  if (!me) return;
  liveBadge = h("span", { class: "live" });
  navLinks.overview = h("a", { href: "#/" }, "Overview");
  navLinks.tasks = h("a", { href: "#/tasks" }, "Tasks");
  navLinks.failures = h("a", { href: "#/failures" }, "Failures");
  navLinks.schedules = h("a", { href: "#/schedules" }, "Schedules");
  if (canWrite()) navLinks.submit = h("a", { href: "#/submit" }, "Submit");
  else delete navLinks.submit;
  if (isAdmin()) {
    navLinks.queues = h("a", { href: "#/queues" }, "Queues");
    navLinks.nodes = h("a", { href: "#/nodes" }, "Nodes");
  } else {
    delete navLinks.queues;
    delete navLinks.nodes;
  }
  mainEl = h("main", {});
  replace(
    root,
    h(
      "header",
      { class: "top" },
      h("span", { class: "brand" }, "Conveyor"),
      h("nav", {}, ...Object.values(navLinks)),
      h(
        "div",
        { class: "who" },
        liveBadge,
        h("span", { id: "whoami" }, `${me.name} · ${me.tenant}`),
        h("button", { class: "link", id: "logout", onclick: () => void logout() }, "Log out"),
      ),
    ),
    mainEl,
  );
}

function route(): void {
  if (!me || !mainEl) return;
  view.teardown?.();
  view = {};
  const hash = location.hash.replace(/^#\/?/, "");
  const [path = "", id] = hash.split("/");
  const section = path.split("?")[0] ?? "";
  for (const [name, link] of Object.entries(navLinks)) {
    link.classList.toggle("active", name === (section in navLinks ? section : "overview"));
  }
  if (section === "tasks" && id) taskDetail(mainEl, decodeURIComponent(id));
  else if (section === "tasks") tasksView(mainEl);
  else if (section === "failures") failuresView(mainEl);
  else if (section === "schedules") schedulesView(mainEl);
  else if (section === "submit") submitView(mainEl);
  else if (section === "queues") queuesView(mainEl);
  else if (section === "nodes") nodesView(mainEl);
  else overview(mainEl);
}

async function start(): Promise<void> {
  replace(root, stateText("Loading…", "loading"));
  try {
    me = await api<Whoami>("GET", "/v1/whoami");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      replace(root, stateText(`The monitor could not be reached: ${errorMessage(err)}`, "error"));
      window.setTimeout(() => void start(), 3000);
    }
    return;
  }
  renderShell();
  openEvents();
  route();
}

/** Runs `fn` at most once per `ms`, the last call winning. */
function throttle(fn: () => void, ms: number): () => void {
  let timer: number | undefined;
  let again = false;
  return () => {
    if (timer !== undefined) {
      again = true;
      return;
    }
    fn();
    timer = window.setTimeout(function tick() {
      timer = undefined;
      if (again) {
        again = false;
        fn();
        timer = window.setTimeout(tick, ms);
      }
    }, ms);
  };
}

// ---------- charts (small SVG line charts drawn here: no library) ----------

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(tag: string, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

interface ChartLine {
  label: string;
  /** A class naming the line's colour in app.css. */
  cls: string;
  values: (number | null)[];
}

const MINUTE = 60_000;
const CHART_W = 420;
const CHART_H = 170;
const PAD = { left: 56, right: 10, top: 10, bottom: 24 };

/** Rounds `n` up to 1, 2 or 5 times a power of ten, so the axis reads well. */
function niceMax(n: number): number {
  if (n <= 0) return 1;
  const pow = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (n <= m * pow) return m * pow;
  return 10 * pow;
}

/** One line chart over `times` (ms since epoch, one per slot); a null value leaves a gap. */
function lineChart(id: string, title: string, times: number[], lines: ChartLine[], fmt: (n: number) => string) {
  const all = lines.flatMap((l) => l.values.filter((v): v is number => v !== null));
  const max = niceMax(Math.max(0, ...all));
  const plotW = CHART_W - PAD.left - PAD.right;
  const plotH = CHART_H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (times.length <= 1 ? plotW : (i / (times.length - 1)) * plotW);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const chart = svgEl("svg", {
    class: "chart",
    viewBox: `0 0 ${CHART_W} ${CHART_H}`,
    role: "img",
    "aria-label": title,
    "data-chart": id,
  });
  chart.append(svgEl("title", {}, title));
  for (const v of [0, max / 2, max]) {
    chart.append(
      svgEl("line", { class: "grid", x1: PAD.left, x2: CHART_W - PAD.right, y1: y(v), y2: y(v) }),
      svgEl("text", { class: "axis", x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)),
    );
  }
  const fmtClock = (t: number) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (times.length > 0) {
    const ticks = [0, Math.floor((times.length - 1) / 2), times.length - 1];
    ticks.forEach((i, n) => {
      const anchor = n === 0 ? "start" : n === 1 ? "middle" : "end";
      chart.append(
        svgEl("text", { class: "axis", x: x(i), y: CHART_H - 6, "text-anchor": anchor }, fmtClock(times[i] ?? 0)),
      );
    });
  }
  for (const line of lines) {
    let d = "";
    let pen = false;
    line.values.forEach((v, i) => {
      if (v === null) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)} ${y(v).toFixed(1)} `;
      pen = true;
      const prev = line.values[i - 1] ?? null;
      const next = line.values[i + 1] ?? null;
      // A value with no neighbour draws no segment: mark it with a dot.
      if (prev === null && next === null) {
        chart.append(
          svgEl(
            "circle",
            { class: `dot ${line.cls}`, cx: x(i), cy: y(v), r: 2.5 },
            svgEl("title", {}, `${line.label} ${fmt(v)} at ${fmtClock(times[i] ?? 0)}`),
          ),
        );
      }
    });
    if (d) chart.append(svgEl("path", { class: `series ${line.cls}`, d: d.trim() }));
  }
  const legend = h(
    "div",
    { class: "legend" },
    ...lines.map((l) => h("span", {}, h("span", { class: `swatch ${l.cls}` }), l.label)),
  );
  return h("figure", { class: "chart-box panel" }, h("figcaption", {}, title), chart, legend);
}

/** The per-minute series of the last hour as charts, or the empty message. */
function renderCharts(host: HTMLElement, points: SeriesPoint[]): void {
  const total = points.reduce((n, p) => n + p.completed + p.failed, 0);
  const anyTiming = points.some((p) => p.runTimeMs?.p50 !== null || p.waitTimeMs?.p50 !== null);
  if (points.length === 0 || (total === 0 && !anyTiming)) {
    replace(host, stateText("No tasks in the last hour.", "empty"));
    return;
  }
  // One slot per minute of the hour, so minutes the server left out read as 0 (counts) or a gap (times).
  const last = Math.max(Math.floor(Date.now() / MINUTE) * MINUTE, ...points.map((p) => Date.parse(p.at)));
  const times = Array.from({ length: 60 }, (_, i) => last - (59 - i) * MINUTE);
  const byMinute = new Map(points.map((p) => [Math.floor(Date.parse(p.at) / MINUTE) * MINUTE, p]));
  const slot = times.map((t) => byMinute.get(t) ?? null);
  const count = (f: (p: SeriesPoint) => number) => slot.map((p) => (p ? f(p) : 0));
  const pct = (f: (p: SeriesPoint) => Timing | undefined, k: "p50" | "p95" | "p99") =>
    slot.map((p) => (p ? (f(p)?.[k] ?? null) : null));
  const fmtCount = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));
  const pcts = (f: (p: SeriesPoint) => Timing | undefined): ChartLine[] => [
    { label: "p50", cls: "c-p50", values: pct(f, "p50") },
    { label: "p95", cls: "c-p95", values: pct(f, "p95") },
    { label: "p99", cls: "c-p99", values: pct(f, "p99") },
  ];
  replace(
    host,
    lineChart(
      "throughput",
      "Tasks per minute",
      times,
      [
        { label: "completed", cls: "c-completed", values: count((p) => p.completed) },
        { label: "failed", cls: "c-failed", values: count((p) => p.failed) },
      ],
      fmtCount,
    ),
    lineChart(
      "run-time",
      "Run time",
      times,
      pcts((p) => p.runTimeMs),
      fmtMs,
    ),
    lineChart(
      "wait-time",
      "Wait time",
      times,
      pcts((p) => p.waitTimeMs),
      fmtMs,
    ),
  );
}

/** Task types with waiting tasks that no up node serves (admin: needs /v1/queues and /v1/nodes). */
async function unservedTypes(): Promise<{ type: string; waiting: number }[]> {
  const [{ queues }, { nodes }] = await Promise.all([
    api<{ queues: Queue[] }>("GET", "/v1/queues"),
    api<{ nodes: WorkerNode[] }>("GET", "/v1/nodes"),
  ]);
  const served = new Set(nodes.filter((n) => n.status === "up").flatMap((n) => n.types));
  return queues.filter((q) => q.waiting > 0 && !served.has(q.type)).map((q) => ({ type: q.type, waiting: q.waiting }));
}

// ---------- overview ----------

function overview(main: HTMLElement): void {
  const counts = h("div", { class: "cards", id: "summary" }, stateText("Loading counts…", "loading"));
  const metrics = h("div", { class: "cards", id: "metrics" }, stateText("Waiting for live metrics…", "loading"));
  const recent = h("div", { id: "recent" }, stateText("Loading tasks…", "loading"));
  const charts = h("div", { class: "charts", id: "charts" }, stateText("Loading the last hour…", "loading"));
  const warning = h("div", { id: "unserved-warning", class: "warning", role: "alert" });
  warning.hidden = true;
  replace(
    main,
    h("h1", {}, "Overview"),
    warning,
    h("h2", {}, "Tasks by status"),
    counts,
    h("h2", {}, "Last minute"),
    metrics,
    h("h2", {}, "Last hour ", h("span", { class: "muted" }, "(per minute)")),
    charts,
    h("h2", {}, "Newest tasks ", h("a", { href: "#/tasks", class: "muted" }, "(all)")),
    recent,
  );
  let alive = true;
  const loadSummary = throttle(async () => {
    try {
      const s = await api<Summary>("GET", "/v1/tasks/summary");
      if (!alive) return;
      replace(
        counts,
        ...STATUSES.map((st) =>
          h(
            "a",
            { class: "card", href: `#/tasks?status=${st}`, "data-count": st },
            h("div", { class: "label" }, st),
            h("div", { class: "value" }, s[st] ?? 0),
          ),
        ),
      );
    } catch (err) {
      if (alive) replace(counts, stateText(`Counts could not be loaded: ${errorMessage(err)}`, "error"));
    }
  }, 1000);
  const showMetrics = (m: LiveMetrics) => {
    const card = (label: string, value: string, sub?: string) =>
      h(
        "div",
        { class: "card" },
        h("div", { class: "label" }, label),
        h("div", { class: "value" }, value),
        sub ? h("div", { class: "sub" }, sub) : null,
      );
    const pcts = (t: Timing) => `p95 ${fmtMs(t.p95)} · p99 ${fmtMs(t.p99)}`;
    replace(
      metrics,
      card("Throughput", `${m.throughputPerSec.toFixed(2)}/s`, "tasks ended per second"),
      card("Success rate", m.successRate === null ? "—" : `${(m.successRate * 100).toFixed(1)}%`),
      card("Run time p50", fmtMs(m.runTimeMs.p50), pcts(m.runTimeMs)),
      card("Wait time p50", fmtMs(m.waitTimeMs.p50), pcts(m.waitTimeMs)),
      card("Active nodes", String(m.activeNodes), `${m.running} running · ${m.pending} pending`),
    );
  };
  const loadCharts = async () => {
    try {
      const { points } = await api<{ points: SeriesPoint[] }>("GET", "/v1/metrics/series?window=1h&step=1m");
      if (alive) renderCharts(charts, points);
    } catch (err) {
      if (alive) replace(charts, stateText(`The last hour could not be loaded: ${errorMessage(err)}`, "error"));
    }
  };
  const loadWarning = async () => {
    if (!isAdmin()) return;
    try {
      const unserved = await unservedTypes();
      if (!alive) return;
      warning.hidden = unserved.length === 0;
      replace(
        warning,
        unserved.length === 0 ? null : h("strong", {}, "No up node serves these waiting tasks: "),
        ...unserved.flatMap((u, i) => [
          i > 0 ? ", " : null,
          h("span", { class: "mono", "data-unserved-type": u.type }, u.type),
          ` (${u.waiting} waiting)`,
        ]),
      );
    } catch {
      // the warning is a hint: leave it as it was
    }
  };
  const stopCharts = every(30_000, () => void loadCharts());
  const stopWarning = every(30_000, () => void loadWarning());
  const list = taskTable(recent, { limit: 10 });
  loadSummary();
  if (lastMetrics) showMetrics(lastMetrics);
  view = {
    onTask: (e) => {
      loadSummary();
      list.onTask(e);
    },
    onMetrics: showMetrics,
    teardown: () => {
      alive = false;
      stopCharts();
      stopWarning();
      list.teardown();
    },
  };
}

// ---------- task list ----------

interface ListQuery {
  status?: string;
  type?: string;
  /** Only the runs of this schedule. */
  scheduleId?: string;
  q?: string;
  /** ISO 8601 bounds on the created time. */
  since?: string;
  until?: string;
  cursor?: string;
  limit: number;
}

/** A live table of the newest tasks matching `query`, rendered into `host`. */
function taskTable(host: HTMLElement, query: ListQuery, onPage?: (nextCursor: string | null) => void) {
  let alive = true;
  let rows = new Map<string, { status: HTMLElement; progress: HTMLElement; task: Task }>();
  const load = throttle(async () => {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.status) params.set("status", query.status);
    if (query.type) params.set("type", query.type);
    if (query.scheduleId) params.set("scheduleId", query.scheduleId);
    if (query.q) params.set("q", query.q);
    if (query.since) params.set("since", query.since);
    if (query.until) params.set("until", query.until);
    if (query.cursor) params.set("cursor", query.cursor);
    try {
      const { tasks, nextCursor } = await api<{ tasks: Task[]; nextCursor: string | null }>(
        "GET",
        `/v1/tasks?${params}`,
      );
      if (!alive) return;
      render(tasks);
      onPage?.(nextCursor ?? null);
    } catch (err) {
      if (alive) replace(host, stateText(`Tasks could not be loaded: ${errorMessage(err)}`, "error"));
    }
  }, 1000);
  const render = (tasks: Task[]) => {
    rows = new Map();
    if (tasks.length === 0) {
      const filtered = query.status || query.type || query.scheduleId || query.q || query.since || query.until;
      const text = query.cursor ? "No older tasks." : filtered ? "No task matches these filters." : "No tasks yet.";
      replace(host, stateText(text, "empty"));
      return;
    }
    const trs = tasks.map((t) => {
      const status = h("td", {}, statusBadge(t.status));
      const progress = h("td", {}, progressBar(t.progress));
      rows.set(t.id, { status, progress, task: t });
      return h(
        "tr",
        { class: "clickable", "data-task-id": t.id, onclick: () => void (location.hash = `#/tasks/${t.id}`) },
        h("td", {}, idCell(t.id)),
        h("td", {}, t.type),
        status,
        progress,
        h("td", {}, t.priority),
        h("td", {}, t.attempts),
        h("td", {}, fmtTime(t.createdAt)),
        h("td", {}, fmtTime(t.finishedAt)),
      );
    });
    const columns = ["Id", "Type", "Status", "Progress", "Priority", "Attempts", "Created", "Finished"];
    replace(host, dataTable("tasks-table", columns, trs));
  };
  load();
  return {
    /** Shows the page after `cursor` (undefined: the newest). */
    page(cursor: string | undefined) {
      query.cursor = cursor;
      load();
    },
    onTask(e: TaskEvent) {
      const row = rows.get(e.id);
      if (!row) {
        // A task not shown: reload when it could belong here (the server applies `q`).
        // A newer page or a closed time range gains nothing from a new task.
        if (query.cursor || query.until || query.scheduleId) return;
        if ((!query.status || query.status === e.status) && (!query.type || query.type === e.type)) load();
        return;
      }
      if (query.status && query.status !== e.status) return load();
      row.task.status = e.status;
      if (e.progress !== null) row.task.progress = e.progress;
      replace(row.status, statusBadge(e.status));
      replace(row.progress, progressBar(row.task.progress));
      // Times and attempts come from the ledger: fetch them once the task ends.
      if (!CANCELLABLE.includes(e.status)) load();
    },
    teardown() {
      alive = false;
    },
  };
}

/** A `datetime-local` value (local time) as ISO 8601, or undefined when empty or not a date. */
function isoOf(local: string | null): string | undefined {
  if (!local) return undefined;
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

function tasksView(main: HTMLElement): void {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const query: ListQuery = {
    status: params.get("status") || undefined,
    type: params.get("type") || undefined,
    scheduleId: params.get("scheduleId") || undefined,
    q: params.get("q") || undefined,
    since: isoOf(params.get("since")),
    until: isoOf(params.get("until")),
    limit: Math.min(500, Math.max(1, Number(params.get("limit")) || 50)),
  };
  const status = h(
    "select",
    { name: "status", "aria-label": "Status" },
    h("option", { value: "" }, "any status"),
    ...STATUSES.map((s) => h("option", { value: s, selected: s === query.status }, s)),
  ) as HTMLSelectElement;
  const type = h(
    "select",
    { name: "type", "aria-label": "Type" },
    h("option", { value: "" }, "any type"),
  ) as HTMLSelectElement;
  if (query.type) type.append(h("option", { value: query.type, selected: true }, query.type));
  const q = h("input", {
    type: "search",
    name: "q",
    placeholder: "Search id, payload, error…",
    value: query.q ?? "",
  }) as HTMLInputElement;
  // Created-time range, in the browser's time zone (the hash keeps the input's local value).
  const since = h("input", {
    type: "datetime-local",
    name: "since",
    id: "filter-since",
    "aria-label": "Created since",
    title: "Created since",
    value: params.get("since") ?? "",
  }) as HTMLInputElement;
  const until = h("input", {
    type: "datetime-local",
    name: "until",
    id: "filter-until",
    "aria-label": "Created until",
    title: "Created until",
    value: params.get("until") ?? "",
  }) as HTMLInputElement;
  const apply = () => {
    const p = new URLSearchParams();
    if (status.value) p.set("status", status.value);
    if (type.value) p.set("type", type.value);
    if (q.value.trim()) p.set("q", q.value.trim());
    if (since.value) p.set("since", since.value);
    if (until.value) p.set("until", until.value);
    if (query.scheduleId) p.set("scheduleId", query.scheduleId);
    if (params.get("limit")) p.set("limit", String(query.limit));
    const s = p.toString();
    location.hash = s ? `#/tasks?${s}` : "#/tasks";
  };
  status.addEventListener("change", apply);
  type.addEventListener("change", apply);
  const host = h("div", { id: "tasks" }, stateText("Loading tasks…", "loading"));
  // Cursor paging: `cursors` holds the cursor of each page shown before this one (undefined: the newest).
  const cursors: (string | undefined)[] = [];
  let current: string | undefined;
  let next: string | null = null;
  const newest = h("button", { id: "page-newest", type: "button" }, "Newest") as HTMLButtonElement;
  const newer = h("button", { id: "page-newer", type: "button" }, "Newer") as HTMLButtonElement;
  const older = h("button", { id: "page-older", type: "button" }, "Older") as HTMLButtonElement;
  const pageInfo = h("span", { class: "muted", id: "page-info" });
  const pager = h("div", { class: "pager" }, newest, newer, older, pageInfo);
  const showPager = () => {
    newest.disabled = current === undefined;
    newer.disabled = current === undefined;
    older.disabled = next === null;
    pageInfo.textContent = cursors.length === 0 ? "" : `page ${cursors.length + 1}`;
  };
  showPager();
  const goTo = (cursor: string | undefined) => {
    current = cursor;
    next = null;
    showPager();
    list.page(cursor);
  };
  older.addEventListener("click", () => {
    if (next === null) return;
    cursors.push(current);
    goTo(next);
  });
  newer.addEventListener("click", () => goTo(cursors.pop()));
  newest.addEventListener("click", () => {
    cursors.length = 0;
    goTo(undefined);
  });
  const scheduleNote = query.scheduleId
    ? h(
        "p",
        { class: "muted", id: "tasks-schedule" },
        "Runs of schedule ",
        h("span", { class: "mono", title: query.scheduleId }, shortId(query.scheduleId)),
        " · ",
        h("a", { href: "#/tasks" }, "show all tasks"),
      )
    : null;
  replace(
    main,
    h("h1", {}, "Tasks"),
    scheduleNote,
    h(
      "form",
      {
        class: "filters",
        onsubmit: (e) => {
          e.preventDefault();
          apply();
        },
      },
      status,
      type,
      q,
      h("label", { class: "muted", for: "filter-since" }, "from"),
      since,
      h("label", { class: "muted", for: "filter-until" }, "to"),
      until,
      h("button", { type: "submit" }, "Search"),
    ),
    host,
    pager,
  );
  api<{ taskTypes: { type: string }[] }>("GET", "/v1/task-types")
    .then(({ taskTypes }) => {
      for (const t of taskTypes) {
        if (t.type !== query.type) type.append(h("option", { value: t.type }, t.type));
      }
    })
    .catch(() => {});
  const list = taskTable(host, query, (nextCursor) => {
    next = nextCursor;
    showPager();
  });
  view = { onTask: list.onTask, teardown: list.teardown };
}

// ---------- task detail ----------

function taskDetail(main: HTMLElement, id: string): void {
  let alive = true;
  replace(main, h("p", {}, h("a", { href: "#/tasks" }, "← Tasks")), stateText("Loading the task…", "loading"));
  const statusEl = h("span", { id: "task-status" });
  const progressEl = h("div", { id: "task-progress" });
  const actions = h("div", { class: "actions" });
  const notice = h("span", { class: "error-text", role: "alert" });
  const fields = h("dl", { class: "grid2" });
  const payload = h("pre", { id: "task-payload" });
  const result = h("pre", { id: "task-result" });
  const errorEl = h("div", { id: "task-error" });
  const attempts = h("div", { id: "task-attempts" }, stateText("Loading attempts…", "loading"));
  const logs = h("div", { id: "task-logs" }, stateText("Loading logs…", "loading"));
  let task: Task | null = null;
  let laid = false;

  // "Run again with changes": the payload as JSON, sent as a new task of the same type and priority.
  const rerunText = h("textarea", {
    id: "rerun-payload",
    rows: 8,
    spellcheck: "false",
    "aria-label": "Payload (JSON)",
  }) as HTMLTextAreaElement;
  const rerunButton = h("button", { class: "primary", id: "rerun-submit", type: "submit" }, "Submit as a new task");
  const rerunMessage = h("span", { class: "error-text", id: "rerun-message", role: "alert" });
  const rerun = async () => {
    if (!task) return;
    let payload: unknown;
    try {
      payload = JSON.parse(rerunText.value);
    } catch (err) {
      rerunMessage.textContent = `The payload is not valid JSON: ${errorMessage(err)}`;
      return;
    }
    (rerunButton as HTMLButtonElement).disabled = true;
    rerunMessage.textContent = "Submitting…";
    try {
      const created = await api<Task>("POST", "/v1/tasks", { type: task.type, payload, priority: task.priority });
      if (!alive) return;
      location.hash = `#/tasks/${encodeURIComponent(created.id)}`;
    } catch (err) {
      if (!alive) return;
      rerunMessage.textContent = `Could not submit: ${errorMessage(err)}`;
      (rerunButton as HTMLButtonElement).disabled = false;
    }
  };
  const rerunBox = () =>
    h(
      "details",
      { class: "rerun", id: "rerun" },
      h("summary", {}, "Run again with changes"),
      h(
        "form",
        {
          onsubmit: (e) => {
            e.preventDefault();
            void rerun();
          },
        },
        h("p", { class: "muted" }, "Edit the payload and submit it as a new task of the same type."),
        rerunText,
        h("div", { class: "actions" }, rerunButton, rerunMessage),
      ),
    );

  const act = async (what: "cancel" | "retry") => {
    for (const b of actions.querySelectorAll("button")) (b as HTMLButtonElement).disabled = true;
    notice.textContent = "";
    try {
      task = await api<Task>("POST", `/v1/tasks/${encodeURIComponent(id)}/${what}`);
      show();
      loadMore();
    } catch (err) {
      notice.textContent = `Could not ${what}: ${errorMessage(err)}`;
      show();
    }
  };

  const show = () => {
    if (!task || !alive) return;
    const t = task;
    replace(statusEl, statusBadge(t.status));
    replace(progressEl, progressBar(t.progress, true), h("span", { class: "muted" }, `${t.progress ?? 0}%`));
    replace(
      actions,
      canWrite() && CANCELLABLE.includes(t.status)
        ? h("button", { class: "danger", id: "cancel", onclick: () => void act("cancel") }, "Cancel")
        : null,
      canWrite() && RETRYABLE.includes(t.status)
        ? h("button", { class: "primary", id: "retry", onclick: () => void act("retry") }, "Retry")
        : null,
      notice,
    );
    const row = (k: string, v: Child) => [h("dt", {}, k), h("dd", {}, v)];
    replace(
      fields,
      ...row("Id", h("span", { class: "mono" }, t.id)),
      ...row("Type", t.type),
      ...row("Priority", t.priority),
      ...row("Attempts", `${t.attempts} of ${t.maxAttempts}`),
      ...row("Timeout", fmtMs(t.timeoutMs)),
      ...row("Node", t.node ?? "—"),
      ...row("Created", fmtTime(t.createdAt)),
      ...row("Run at", fmtTime(t.runAt)),
      ...row("Started", fmtTime(t.startedAt)),
      ...row("Finished", fmtTime(t.finishedAt)),
      ...(t.scheduleId
        ? row(
            "Schedule",
            h("a", { class: "mono", href: `#/tasks?scheduleId=${encodeURIComponent(t.scheduleId)}` }, t.scheduleId),
          )
        : []),
    );
    payload.textContent = fmtJson(t.payload);
    result.textContent = t.result === null ? "No result yet." : fmtJson(t.result);
    replace(
      errorEl,
      t.error
        ? h("pre", { class: "error-text" }, `${t.error.code}: ${t.error.message}`)
        : h("p", { class: "muted" }, "No error."),
    );
    if (!laid) {
      laid = true;
      rerunText.value = JSON.stringify(t.payload ?? {}, null, 2);
      replace(
        main,
        h("p", {}, h("a", { href: "#/tasks" }, "← Tasks")),
        h("div", { class: "detail-head" }, h("h1", { title: t.id }, `Task ${shortId(t.id)}`), statusEl, actions),
        h("div", { class: "panel" }, progressEl, h("br"), fields),
        h(
          "div",
          { class: "cols" },
          h("div", {}, h("h2", {}, "Payload"), payload, canWrite() ? rerunBox() : null),
          h("div", {}, h("h2", {}, "Result"), result, h("h2", {}, "Error"), errorEl),
        ),
        h("h2", {}, "Attempts"),
        attempts,
        h("h2", {}, "Logs"),
        logs,
      );
    }
  };

  const load = throttle(async () => {
    try {
      task = await api<Task>("GET", `/v1/tasks/${encodeURIComponent(id)}`);
      show();
    } catch (err) {
      if (!alive) return;
      const text =
        err instanceof ApiError && err.status === 404
          ? "There is no such task."
          : `The task could not be loaded: ${errorMessage(err)}`;
      replace(main, h("p", {}, h("a", { href: "#/tasks" }, "← Tasks")), stateText(text, "error"));
    }
  }, 500);

  const loadMore = throttle(async () => {
    try {
      const [a, l] = await Promise.all([
        api<{ attempts: Attempt[] }>("GET", `/v1/tasks/${encodeURIComponent(id)}/attempts`),
        api<{ logs: LogLine[] }>("GET", `/v1/tasks/${encodeURIComponent(id)}/logs`),
      ]);
      if (!alive) return;
      replace(
        attempts,
        a.attempts.length === 0
          ? stateText("No attempt has started yet.")
          : dataTable(
              null,
              ["#", "Outcome", "Node", "Started", "Finished", "Duration", "Error"],
              a.attempts.map((x) =>
                h(
                  "tr",
                  {},
                  h("td", {}, x.n),
                  h("td", {}, x.outcome),
                  h("td", { class: "mono" }, x.node ?? "—"),
                  h("td", {}, fmtTime(x.startedAt)),
                  h("td", {}, fmtTime(x.finishedAt)),
                  h("td", {}, fmtMs(x.durationMs)),
                  h("td", {}, x.error ? `${x.error.code}: ${x.error.message}` : ""),
                ),
              ),
            ),
      );
      replace(
        logs,
        l.logs.length === 0
          ? stateText("Nothing logged.")
          : h(
              "pre",
              {},
              ...l.logs.map((x) =>
                h(
                  "div",
                  { class: `log-${x.level}` },
                  `${new Date(x.at).toLocaleTimeString()} [${x.level}] #${x.attempt} ${x.message}`,
                ),
              ),
            ),
      );
    } catch (err) {
      if (!alive) return;
      replace(attempts, stateText(`Attempts could not be loaded: ${errorMessage(err)}`, "error"));
      replace(logs, stateText(`Logs could not be loaded: ${errorMessage(err)}`, "error"));
    }
  }, 1000);

  load();
  loadMore();
  view = {
    onTask: (e) => {
      if (e.id !== id || !task) return;
      const changed = e.status !== task.status;
      task.status = e.status;
      if (e.progress !== null) task.progress = e.progress;
      show();
      if (changed) {
        load();
        loadMore();
      }
    },
    teardown: () => {
      alive = false;
    },
  };
}

// ---------- shared bits for the pages below ----------

/** A table (with an `id` unless null) of `columns` and `rows` in its scrolling wrapper. */
function dataTable(id: string | null, columns: string[], rows: HTMLElement[]): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h("table", { id }, h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", {}, c)))), h("tbody", {}, ...rows)),
  );
}

/** Calls `fn` now and every `ms` while the page is shown; returns the teardown. */
function every(ms: number, fn: () => void): () => void {
  fn();
  const timer = window.setInterval(fn, ms);
  return () => window.clearInterval(timer);
}

// ---------- failures ----------

function failuresView(main: HTMLElement): void {
  let alive = true;
  const host = h("div", { id: "failures" }, stateText("Loading failures…", "loading"));
  const { notice, say } = statusNotice("failures-notice");
  const load = throttle(async () => {
    try {
      const { groups } = await api<{ groups: FailureGroup[] }>("GET", "/v1/tasks/failures");
      if (alive) render(groups);
    } catch (err) {
      if (alive) replace(host, stateText(`Failures could not be loaded: ${errorMessage(err)}`, "error"));
    }
  }, 1000);
  const retryGroup = async (g: FailureGroup, button: HTMLButtonElement) => {
    button.disabled = true;
    try {
      const { retried } = await api<{ retried: number }>("POST", "/v1/tasks/retry", {
        type: g.type,
        code: g.code,
        message: g.message,
      });
      if (!alive) return;
      say(false, `${retried} retried (${g.type} · ${g.code})`);
      load();
    } catch (err) {
      if (!alive) return;
      say(true, `Could not retry ${g.type} · ${g.code}: ${errorMessage(err)}`);
      button.disabled = false;
    }
  };
  const render = (groups: FailureGroup[]) => {
    if (groups.length === 0) {
      replace(host, stateText("No failed tasks.", "empty"));
      return;
    }
    const write = canWrite();
    const rows = groups.map((g) => {
      const button = h("button", { class: "primary retry-group" }, "Retry this group") as HTMLButtonElement;
      button.addEventListener("click", () => void retryGroup(g, button));
      return h(
        "tr",
        { "data-failure-type": g.type, "data-failure-code": g.code },
        h("td", {}, g.type),
        h("td", { class: "mono" }, g.code),
        h("td", { class: "wrap" }, g.message),
        h("td", { class: "num" }, g.count),
        h("td", {}, fmtTime(g.lastAt)),
        h(
          "td",
          {},
          h(
            "a",
            { href: `#/tasks/${encodeURIComponent(g.sampleTaskId)}`, title: g.sampleTaskId, class: "mono" },
            shortId(g.sampleTaskId),
          ),
        ),
        write ? h("td", {}, button) : null,
      );
    });
    const columns = ["Type", "Code", "Message", "Count", "Last at", "Sample task"];
    replace(host, dataTable("failures-table", write ? [...columns, ""] : columns, rows));
  };
  replace(
    main,
    h("h1", {}, "Failures"),
    h("p", { class: "muted" }, "Failed tasks grouped by type and cause, largest group first."),
    notice,
    host,
  );
  load();
  view = {
    onTask: (e) => {
      if (e.status === "failed") load();
    },
    teardown: () => {
      alive = false;
    },
  };
}

// ---------- submit ----------

interface Field {
  name: string;
  required: boolean;
  /** The value to send, `undefined` to leave it out; throws a message when the input is not valid. */
  read(): unknown;
  error: HTMLElement;
  el: HTMLElement;
}

const schemaType = (s: JsonSchema): string | undefined => {
  if (Array.isArray(s.type)) return s.type.find((t) => t !== "null");
  return s.type;
};

function numberBounds(s: JsonSchema, n: number): string | null {
  if (s.minimum !== undefined && n < s.minimum) return `must be at least ${s.minimum}`;
  if (s.maximum !== undefined && n > s.maximum) return `must be at most ${s.maximum}`;
  if (s.exclusiveMinimum !== undefined && n <= s.exclusiveMinimum) return `must be more than ${s.exclusiveMinimum}`;
  if (s.exclusiveMaximum !== undefined && n >= s.exclusiveMaximum) return `must be less than ${s.exclusiveMaximum}`;
  return null;
}

function makeField(name: string, s: JsonSchema, required: boolean): Field {
  const id = `field-${name}`;
  const error = h("span", { class: "field-error error-text", "data-error-for": name, role: "alert" });
  const t = schemaType(s);
  let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  let read: () => unknown;
  const missing = () => {
    if (required) throw new Error("is required");
    return undefined;
  };
  if (Array.isArray(s.enum)) {
    const options = s.enum;
    input = h(
      "select",
      { id, name },
      h("option", { value: "" }, required ? "choose…" : "(default)"),
      ...options.map((v, i) => h("option", { value: String(i) }, typeof v === "string" ? v : JSON.stringify(v))),
    ) as HTMLSelectElement;
    const sel = input;
    read = () => (sel.value === "" ? missing() : options[Number(sel.value)]);
  } else if (t === "number" || t === "integer") {
    input = h("input", {
      id,
      name,
      type: "number",
      step: t === "integer" ? 1 : "any",
      min: s.minimum ?? null,
      max: s.maximum ?? null,
    }) as HTMLInputElement;
    const inp = input;
    read = () => {
      const raw = inp.value.trim();
      if (raw === "") {
        if (inp.validity.badInput) throw new Error("must be a number");
        return missing();
      }
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new Error("must be a number");
      if (t === "integer" && !Number.isInteger(n)) throw new Error("must be a whole number");
      const bad = numberBounds(s, n);
      if (bad) throw new Error(bad);
      return n;
    };
  } else if (t === "string") {
    input = h("input", { id, name, type: "text" }) as HTMLInputElement;
    const inp = input;
    read = () => (inp.value === "" ? missing() : inp.value);
  } else if (t === "boolean") {
    input = h("input", { id, name, type: "checkbox" }) as HTMLInputElement;
    const inp = input;
    read = () => inp.checked;
  } else {
    input = h("textarea", { id, name, rows: 4, placeholder: "JSON", spellcheck: "false" }) as HTMLTextAreaElement;
    const inp = input;
    read = () => {
      if (inp.value.trim() === "") return missing();
      try {
        return JSON.parse(inp.value) as unknown;
      } catch {
        throw new Error("is not valid JSON");
      }
    };
  }
  const label = h(
    "label",
    { for: id },
    name,
    required ? h("span", { class: "required", title: "required" }, " *") : null,
    t === "integer" || t === "number" ? h("span", { class: "muted" }, ` (${t})`) : null,
  );
  const el = h(
    "div",
    { class: "field", "data-field": name },
    label,
    input,
    s.description ? h("span", { class: "hint muted" }, s.description) : null,
    error,
  );
  input.addEventListener(input instanceof HTMLSelectElement || t === "boolean" ? "change" : "input", () => {
    error.textContent = "";
  });
  return { name, required, read, error, el };
}

function submitView(main: HTMLElement): void {
  let alive = true;
  const typeSelect = h(
    "select",
    { id: "submit-type", name: "type" },
    h("option", { value: "" }, "choose a task type…"),
  ) as HTMLSelectElement;
  const description = h("p", { class: "muted", id: "submit-description" });
  const fieldsHost = h("div", { id: "submit-fields", class: "fields" });
  const priority = h(
    "select",
    { id: "submit-priority", name: "priority" },
    h("option", { value: "" }, "default"),
    ...PRIORITIES.map((p) => h("option", { value: p }, p)),
  ) as HTMLSelectElement;
  const message = h("p", { class: "error-text", role: "alert", id: "submit-message" });
  const button = h("button", { class: "primary", type: "submit", id: "submit-task" }, "Submit") as HTMLButtonElement;
  let types: TaskType[] = [];
  let fields: Field[] = [];
  let whole: Field | null = null;

  const pick = () => {
    const tt = types.find((t) => t.type === typeSelect.value);
    message.textContent = "";
    fields = [];
    whole = null;
    if (!tt) {
      description.textContent = "";
      replace(fieldsHost, stateText("Choose a task type to fill in its payload.", "empty"));
      return;
    }
    description.textContent = tt.description;
    const s = tt.payloadSchema;
    if (schemaType(s) === "object" && s.properties && Object.keys(s.properties).length > 0) {
      const required = new Set(s.required ?? []);
      fields = Object.entries(s.properties).map(([name, ps]) => makeField(name, ps, required.has(name)));
      replace(fieldsHost, ...fields.map((f) => f.el));
    } else {
      whole = makeField("payload", {}, false);
      replace(fieldsHost, whole.el);
    }
  };
  typeSelect.addEventListener("change", pick);

  const collect = (): { ok: boolean; payload: unknown } => {
    let ok = true;
    const read = (f: Field) => {
      f.error.textContent = "";
      try {
        return f.read();
      } catch (err) {
        ok = false;
        f.error.textContent = `${f.name} ${errorMessage(err)}`;
        return undefined;
      }
    };
    if (whole) {
      const v = read(whole);
      return { ok, payload: v === undefined ? {} : v };
    }
    const payload: Record<string, unknown> = {};
    for (const f of fields) {
      const v = read(f);
      if (v !== undefined) payload[f.name] = v;
    }
    return { ok, payload };
  };

  const form = h(
    "form",
    {
      class: "panel submit-form",
      id: "submit-form",
      novalidate: true,
      oninput: () => {
        if (!button.disabled) message.textContent = "";
      },
      onsubmit: async (e) => {
        e.preventDefault();
        message.textContent = "";
        if (!typeSelect.value) {
          message.textContent = "Choose a task type.";
          return;
        }
        const { ok, payload } = collect();
        if (!ok) {
          message.textContent = "Fix the fields marked above; nothing was sent.";
          return;
        }
        button.disabled = true;
        message.textContent = "";
        try {
          const body: Record<string, unknown> = { type: typeSelect.value, payload };
          if (priority.value) body.priority = priority.value;
          const task = await api<Task>("POST", "/v1/tasks", body);
          if (alive) location.hash = `#/tasks/${encodeURIComponent(task.id)}`;
        } catch (err) {
          if (!alive) return;
          message.textContent = `The task was not accepted: ${errorMessage(err)}`;
          button.disabled = false;
        }
      },
    },
    h("div", { class: "field" }, h("label", { for: "submit-type" }, "Task type"), typeSelect, description),
    h("h2", {}, "Payload"),
    fieldsHost,
    h("div", { class: "field" }, h("label", { for: "submit-priority" }, "Priority"), priority),
    h("div", { class: "actions" }, button),
    message,
  );
  replace(main, h("h1", {}, "Submit a task"), stateText("Loading task types…", "loading"));
  if (!canWrite()) {
    replace(
      main,
      h("h1", {}, "Submit a task"),
      stateText("Your key cannot submit tasks (it lacks tasks:write).", "error"),
    );
    return;
  }
  api<{ taskTypes: TaskType[] }>("GET", "/v1/task-types")
    .then(({ taskTypes }) => {
      if (!alive) return;
      types = taskTypes;
      if (types.length === 0) {
        replace(main, h("h1", {}, "Submit a task"), stateText("No task types are registered.", "empty"));
        return;
      }
      for (const t of types) typeSelect.append(h("option", { value: t.type }, t.type));
      const wanted = new URLSearchParams(location.hash.split("?")[1] ?? "").get("type");
      if (wanted && types.some((t) => t.type === wanted)) typeSelect.value = wanted;
      pick();
      replace(main, h("h1", {}, "Submit a task"), form);
    })
    .catch((err) => {
      if (alive)
        replace(
          main,
          h("h1", {}, "Submit a task"),
          stateText(`Task types could not be loaded: ${errorMessage(err)}`, "error"),
        );
    });
  view = {
    teardown: () => {
      alive = false;
    },
  };
}

// ---------- queues ----------

const fmtRate = (r: RateLimit | null) => (r ? `${r.max} per ${fmtMs(r.durationMs)}` : "none");

function queuesView(main: HTMLElement): void {
  let alive = true;
  let editing: string | null = null;
  const host = h("div", { id: "queues" }, stateText("Loading queues…", "loading"));
  const notice = h("p", { class: "error-text", role: "alert", id: "queues-notice" });
  replace(main, h("h1", {}, "Queues"), notice, host);
  if (!isAdmin()) {
    replace(host, stateText("Queues are for admin keys only.", "error"));
    return;
  }
  let queues: Queue[] = [];
  const load = async () => {
    try {
      const res = await api<{ queues: Queue[] }>("GET", "/v1/queues");
      if (!alive) return;
      queues = res.queues;
      if (editing === null) render();
    } catch (err) {
      if (alive) replace(host, stateText(`Queues could not be loaded: ${errorMessage(err)}`, "error"));
    }
  };
  const act = async (q: Queue, what: "pause" | "resume", button: HTMLButtonElement) => {
    button.disabled = true;
    notice.textContent = "";
    try {
      await api("POST", `/v1/queues/${encodeURIComponent(q.type)}/${what}`);
    } catch (err) {
      if (alive) notice.textContent = `Could not ${what} ${q.type}: ${errorMessage(err)}`;
    }
    await load();
  };
  const editRow = (q: Queue): HTMLElement => {
    const num = (name: string, label: string, value: number | undefined | null) =>
      h(
        "label",
        {},
        `${label} `,
        h("input", { type: "number", name, min: 1, step: 1, value: value ?? "", placeholder: "none", class: "small" }),
      );
    const error = h("span", { class: "error-text", role: "alert" });
    const form = h(
      "form",
      {
        class: "inline-form",
        novalidate: true,
        onsubmit: async (e) => {
          e.preventDefault();
          const f = e.target as HTMLFormElement;
          const val = (n: string) => (f.elements.namedItem(n) as HTMLInputElement).value.trim();
          const int = (n: string, label: string): number | null => {
            const v = val(n);
            if (v === "") return null;
            const x = Number(v);
            if (!Number.isInteger(x) || x < 1) throw new Error(`${label} must be a whole number of at least 1`);
            return x;
          };
          let body: { concurrency: number | null; rateLimit: RateLimit | null };
          try {
            const max = int("max", "Rate limit max");
            const durationMs = int("durationMs", "Rate limit window");
            if ((max === null) !== (durationMs === null))
              throw new Error("Give both the rate limit max and its window, or neither");
            body = {
              concurrency: int("concurrency", "Concurrency"),
              rateLimit: max !== null && durationMs !== null ? { max, durationMs } : null,
            };
          } catch (err) {
            error.textContent = errorMessage(err);
            return;
          }
          error.textContent = "Saving…";
          try {
            await api("PATCH", `/v1/queues/${encodeURIComponent(q.type)}`, body);
            editing = null;
            await load();
          } catch (err) {
            if (alive) error.textContent = `Not saved: ${errorMessage(err)}`;
          }
        },
      },
      num("concurrency", "Concurrency", q.concurrency),
      num("max", "Rate limit: max", q.rateLimit?.max),
      num("durationMs", "per ms", q.rateLimit?.durationMs),
      h("button", { type: "submit", class: "primary" }, "Save"),
      h(
        "button",
        {
          type: "button",
          onclick: () => {
            editing = null;
            render();
          },
        },
        "Cancel",
      ),
      error,
    );
    return h("tr", { class: "edit-row", "data-edit-queue": q.type }, h("td", { colspan: 9 }, form));
  };
  const render = () => {
    if (queues.length === 0) {
      replace(host, stateText("No queues yet.", "empty"));
      return;
    }
    const rows: HTMLElement[] = [];
    for (const q of queues) {
      const toggle = h(
        "button",
        { class: q.paused ? "primary" : "danger", "data-action": q.paused ? "resume" : "pause" },
        q.paused ? "Resume" : "Pause",
      ) as HTMLButtonElement;
      toggle.addEventListener("click", () => void act(q, q.paused ? "resume" : "pause", toggle));
      const edit = h(
        "button",
        {
          "data-action": "edit",
          onclick: () => {
            editing = q.type;
            render();
          },
        },
        "Edit limits",
      );
      rows.push(
        h(
          "tr",
          { "data-queue": q.type },
          h("td", {}, q.type),
          h(
            "td",
            { "data-queue-state": q.paused ? "paused" : "running" },
            h("span", { class: `status ${q.paused ? "paused" : "running"}` }, q.paused ? "paused" : "running"),
          ),
          h("td", { class: "num" }, q.waiting),
          h("td", { class: "num" }, q.delayed),
          h("td", { class: "num" }, q.active),
          h("td", { class: "num" }, q.failed),
          h("td", {}, q.concurrency ?? "default"),
          h("td", {}, fmtRate(q.rateLimit)),
          h("td", {}, h("div", { class: "actions" }, toggle, edit)),
        ),
      );
      if (editing === q.type) rows.push(editRow(q));
    }
    replace(
      host,
      dataTable(
        "queues-table",
        ["Type", "State", "Waiting", "Delayed", "Active", "Failed", "Concurrency", "Rate limit", ""],
        rows,
      ),
    );
  };
  const stop = every(5000, () => void load());
  view = {
    teardown: () => {
      alive = false;
      stop();
    },
  };
}

// ---------- schedules ----------

/** An interval as people say it: "every 30 s", "every 5 min", "every 2 h". */
function fmtEvery(ms: number): string {
  if (ms % 3_600_000 === 0) return `every ${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `every ${ms / 60_000} min`;
  if (ms % 1000 === 0) return `every ${ms / 1000} s`;
  return `every ${ms} ms`;
}

function schedulesView(main: HTMLElement): void {
  let alive = true;
  /** The schedule whose Delete asks for confirmation, if any. */
  let confirming: string | null = null;
  let schedules: Schedule[] = [];
  const host = h("div", { id: "schedules" }, stateText("Loading schedules…", "loading"));
  const { notice, say } = statusNotice("schedules-notice");
  replace(
    main,
    h("h1", {}, "Schedules"),
    h("p", { class: "muted" }, "Recurring tasks: each run is an ordinary task. Times are in your browser's zone."),
    notice,
    host,
  );
  const load = async () => {
    try {
      const res = await api<{ schedules: Schedule[] }>("GET", "/v1/schedules");
      if (!alive) return;
      schedules = res.schedules;
      render();
    } catch (err) {
      if (alive) replace(host, stateText(`Schedules could not be loaded: ${errorMessage(err)}`, "error"));
    }
  };
  const act = async (s: Schedule, what: "pause" | "resume" | "trigger" | "delete", button: HTMLButtonElement) => {
    for (const b of host.querySelectorAll(`tr[data-schedule-id="${s.id}"] button`))
      (b as HTMLButtonElement).disabled = true;
    button.disabled = true;
    try {
      if (what === "delete") {
        await api("DELETE", `/v1/schedules/${encodeURIComponent(s.id)}`);
        confirming = null;
        if (alive) say(false, `Deleted “${s.name}”. The tasks it made are kept.`);
      } else if (what === "trigger") {
        const task = await api<Task>("POST", `/v1/schedules/${encodeURIComponent(s.id)}/trigger`);
        if (alive)
          say(
            false,
            `Ran “${s.name}” now: task `,
            h("a", { href: `#/tasks/${encodeURIComponent(task.id)}`, class: "mono", title: task.id }, shortId(task.id)),
          );
      } else {
        await api<Schedule>("POST", `/v1/schedules/${encodeURIComponent(s.id)}/${what}`);
        if (alive) say(false, `${what === "pause" ? "Paused" : "Resumed"} “${s.name}”.`);
      }
    } catch (err) {
      if (alive) say(true, `Could not ${what === "trigger" ? "run" : what} “${s.name}”: ${errorMessage(err)}`);
    }
    await load();
  };
  const button = (s: Schedule, what: "pause" | "resume" | "trigger" | "delete", label: string, cls = "") => {
    const b = h("button", { class: cls, "data-action": what, type: "button" }, label) as HTMLButtonElement;
    b.addEventListener("click", () => void act(s, what, b));
    return b;
  };
  const actionsOf = (s: Schedule): HTMLElement => {
    if (confirming === s.id) {
      const keep = h("button", { type: "button", "data-action": "keep" }, "Keep") as HTMLButtonElement;
      keep.addEventListener("click", () => {
        confirming = null;
        render();
      });
      return h(
        "div",
        { class: "actions" },
        h("span", { class: "error-text" }, "Delete this schedule?"),
        button(s, "delete", "Yes, delete", "danger"),
        keep,
      );
    }
    const del = h("button", { class: "danger", type: "button", "data-action": "ask-delete" }, "Delete");
    del.addEventListener("click", () => {
      confirming = s.id;
      render();
    });
    return h(
      "div",
      { class: "actions" },
      s.paused ? button(s, "resume", "Resume", "primary") : button(s, "pause", "Pause"),
      button(s, "trigger", "Run now"),
      del,
    );
  };
  const render = () => {
    if (schedules.length === 0) {
      replace(
        host,
        h(
          "div",
          { class: "panel", "data-state": "empty" },
          h("p", {}, "No schedules yet."),
          h(
            "p",
            { class: "muted" },
            "Make one with POST /v1/schedules, e.g. ",
            h("code", {}, '{"name": "ping", "everyMs": 60000, "task": {"type": "echo", "payload": {}}}'),
          ),
        ),
      );
      return;
    }
    const write = canWrite();
    const rows = schedules.map((s) =>
      h(
        "tr",
        { "data-schedule-id": s.id },
        h("td", { class: "wrap" }, s.name),
        h(
          "td",
          {},
          s.cron
            ? h(
                "span",
                {},
                h("code", {}, s.cron),
                s.timezone === "UTC" ? null : h("span", { class: "muted" }, ` ${s.timezone}`),
              )
            : fmtEvery(s.everyMs ?? 0),
        ),
        h("td", {}, s.task.type),
        h(
          "td",
          { "data-schedule-state": s.paused ? "paused" : "active" },
          h("span", { class: `status ${s.paused ? "paused" : "active"}` }, s.paused ? "paused" : "active"),
        ),
        h("td", { "data-next-run": s.nextRunAt ?? "" }, s.nextRunAt ? fmtTime(s.nextRunAt) : "—"),
        h(
          "td",
          { "data-last-run": s.lastRunAt ?? "" },
          fmtTime(s.lastRunAt),
          s.lastTaskId
            ? h(
                "span",
                {},
                " · ",
                h(
                  "a",
                  { href: `#/tasks/${encodeURIComponent(s.lastTaskId)}`, class: "mono", title: s.lastTaskId },
                  shortId(s.lastTaskId),
                ),
              )
            : null,
        ),
        h("td", {}, h("a", { href: `#/tasks?scheduleId=${encodeURIComponent(s.id)}` }, "runs")),
        write ? h("td", {}, actionsOf(s)) : null,
      ),
    );
    const columns = ["Name", "When", "Task", "State", "Next run", "Last run", ""];
    replace(host, dataTable("schedules-table", write ? [...columns, ""] : columns, rows));
  };
  const reload = throttle(() => {
    if (confirming === null) void load();
  }, 2000);
  // Next and last runs move on their own: refresh while the page is shown (not mid-confirmation).
  const stop = every(5000, () => {
    if (confirming === null) void load();
  });
  view = {
    onTask: (e) => {
      // A new task may be a run: the schedule's last run may be it.
      if (e.status === "queued" && schedules.length > 0) reload();
    },
    teardown: () => {
      alive = false;
      stop();
    },
  };
}

// ---------- nodes ----------

function nodesView(main: HTMLElement): void {
  let alive = true;
  const host = h("div", { id: "nodes" }, stateText("Loading nodes…", "loading"));
  replace(main, h("h1", {}, "Nodes"), host);
  if (!isAdmin()) {
    replace(host, stateText("Nodes are for admin keys only.", "error"));
    return;
  }
  const load = async () => {
    try {
      const { nodes } = await api<{ nodes: WorkerNode[] }>("GET", "/v1/nodes");
      if (!alive) return;
      if (nodes.length === 0) {
        replace(host, stateText("No worker node has registered.", "empty"));
        return;
      }
      replace(
        host,
        dataTable(
          "nodes-table",
          [
            "Id",
            "Host",
            "Status",
            "Types",
            "Concurrency",
            "Active",
            "Memory",
            "Event-loop lag",
            "Version",
            "Started",
            "Last seen",
          ],
          nodes.map((n) =>
            h(
              "tr",
              { "data-node": n.id },
              h("td", {}, h("span", { class: "mono", title: `${n.id} (pid ${n.pid})` }, shortId(n.id))),
              h("td", {}, n.host),
              h(
                "td",
                {},
                h("span", { class: `status ${n.status === "up" ? "up" : "lost"}`, "data-status": n.status }, n.status),
              ),
              h("td", { class: "wrap" }, n.types.length ? n.types.join(", ") : "—"),
              h("td", { class: "num" }, n.concurrency),
              h("td", { class: "num" }, n.active),
              h("td", { class: "num" }, n.rssBytes === null ? "—" : `${(n.rssBytes / 1_048_576).toFixed(0)} MB`),
              h("td", { class: "num" }, n.eventLoopLagMs === null ? "—" : `${n.eventLoopLagMs.toFixed(1)} ms`),
              h("td", {}, n.version),
              h("td", {}, fmtTime(n.startedAt)),
              h("td", {}, fmtTime(n.lastSeenAt)),
            ),
          ),
        ),
      );
    } catch (err) {
      if (alive) replace(host, stateText(`Nodes could not be loaded: ${errorMessage(err)}`, "error"));
    }
  };
  const stop = every(5000, () => void load());
  view = {
    teardown: () => {
      alive = false;
      stop();
    },
  };
}

window.addEventListener("hashchange", route);
void start();
