// The Conveyor dashboard: one page, routed by location.hash, talking to `/v1/*` (proxied to the API)
// with the session cookie, and live through `GET /events` (SSE). Every value from the server is
// put into the page as text (never as HTML).

type Status = "queued" | "delayed" | "running" | "completed" | "failed" | "cancelled";
const STATUSES: Status[] = ["queued", "delayed", "running", "completed", "failed", "cancelled"];
const CANCELLABLE: Status[] = ["queued", "delayed", "running"];
const RETRYABLE: Status[] = ["failed", "cancelled"];

interface Task {
  id: string;
  tenant: string;
  type: string;
  status: Status;
  priority: string;
  payload: unknown;
  result: unknown;
  error: { code: string; message: string } | null;
  progress: number | null;
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  scheduleId: string | null;
  runAt: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  node: string | null;
}
interface Attempt {
  n: number;
  node: string | null;
  startedAt: string;
  finishedAt: string | null;
  outcome: string;
  error: { code: string; message: string } | null;
  durationMs: number | null;
}
interface LogLine {
  at: string;
  level: string;
  message: string;
  attempt: number;
}
interface TaskEvent {
  id: string;
  tenant: string;
  type: string;
  status: Status;
  progress: number | null;
  attempt: number;
  node: string | null;
  at: string;
}
interface Timing {
  avg: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
interface LiveMetrics {
  pending: number;
  running: number;
  throughputPerSec: number;
  successRate: number | null;
  runTimeMs: Timing;
  waitTimeMs: Timing;
  activeNodes: number;
}
interface Whoami {
  tenant: string;
  name: string;
  scopes: string[];
}
type Summary = Record<Status, number>;

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
  mainEl = h("main", {});
  replace(
    root,
    h(
      "header",
      { class: "top" },
      h("span", { class: "brand" }, "Conveyor"),
      h("nav", {}, navLinks.overview, navLinks.tasks),
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
  const [section, id] = hash.split("/");
  for (const [name, link] of Object.entries(navLinks)) {
    link.classList.toggle("active", name === (section === "tasks" ? "tasks" : "overview"));
  }
  if (section === "tasks" && id) taskDetail(mainEl, decodeURIComponent(id));
  else if (section === "tasks") tasksView(mainEl);
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

// ---------- overview ----------

function overview(main: HTMLElement): void {
  const counts = h("div", { class: "cards", id: "summary" }, stateText("Loading counts…", "loading"));
  const metrics = h("div", { class: "cards", id: "metrics" }, stateText("Waiting for live metrics…", "loading"));
  const recent = h("div", { id: "recent" }, stateText("Loading tasks…", "loading"));
  replace(
    main,
    h("h1", {}, "Overview"),
    h("h2", {}, "Tasks by status"),
    counts,
    h("h2", {}, "Last minute"),
    metrics,
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
      list.teardown();
    },
  };
}

// ---------- task list ----------

interface ListQuery {
  status?: string;
  type?: string;
  q?: string;
  limit: number;
}

/** A live table of the newest tasks matching `query`, rendered into `host`. */
function taskTable(host: HTMLElement, query: ListQuery) {
  let alive = true;
  let rows = new Map<string, { tr: HTMLElement; status: HTMLElement; progress: HTMLElement; task: Task }>();
  const load = throttle(async () => {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.status) params.set("status", query.status);
    if (query.type) params.set("type", query.type);
    if (query.q) params.set("q", query.q);
    try {
      const { tasks } = await api<{ tasks: Task[] }>("GET", `/v1/tasks?${params}`);
      if (alive) render(tasks);
    } catch (err) {
      if (alive) replace(host, stateText(`Tasks could not be loaded: ${errorMessage(err)}`, "error"));
    }
  }, 1000);
  const render = (tasks: Task[]) => {
    rows = new Map();
    if (tasks.length === 0) {
      const filtered = query.status || query.type || query.q;
      replace(host, stateText(filtered ? "No task matches these filters." : "No tasks yet.", "empty"));
      return;
    }
    const tbody = h("tbody", {});
    for (const t of tasks) {
      const status = h("td", {}, statusBadge(t.status));
      const progress = h("td", {}, progressBar(t.progress));
      const tr = h(
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
      tbody.append(tr);
      rows.set(t.id, { tr, status, progress, task: t });
    }
    replace(
      host,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { id: "tasks-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ...["Id", "Type", "Status", "Progress", "Priority", "Attempts", "Created", "Finished"].map((c) =>
                h("th", {}, c),
              ),
            ),
          ),
          tbody,
        ),
      ),
    );
  };
  load();
  return {
    onTask(e: TaskEvent) {
      const row = rows.get(e.id);
      if (!row) {
        // A task not shown: reload when it could belong here (the server applies `q`).
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

function tasksView(main: HTMLElement): void {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const query: ListQuery = {
    status: params.get("status") || undefined,
    type: params.get("type") || undefined,
    q: params.get("q") || undefined,
    limit: 50,
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
  const apply = () => {
    const p = new URLSearchParams();
    if (status.value) p.set("status", status.value);
    if (type.value) p.set("type", type.value);
    if (q.value.trim()) p.set("q", q.value.trim());
    const s = p.toString();
    location.hash = s ? `#/tasks?${s}` : "#/tasks";
  };
  status.addEventListener("change", apply);
  type.addEventListener("change", apply);
  const host = h("div", { id: "tasks" }, stateText("Loading tasks…", "loading"));
  replace(
    main,
    h("h1", {}, "Tasks"),
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
      h("button", { type: "submit" }, "Search"),
    ),
    host,
  );
  api<{ taskTypes: { type: string }[] }>("GET", "/v1/task-types")
    .then(({ taskTypes }) => {
      for (const t of taskTypes) {
        if (t.type !== query.type) type.append(h("option", { value: t.type }, t.type));
      }
    })
    .catch(() => {});
  const list = taskTable(host, query);
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
      ...(t.scheduleId ? row("Schedule", h("span", { class: "mono" }, t.scheduleId)) : []),
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
      replace(
        main,
        h("p", {}, h("a", { href: "#/tasks" }, "← Tasks")),
        h("div", { class: "detail-head" }, h("h1", { title: t.id }, `Task ${shortId(t.id)}`), statusEl, actions),
        h("div", { class: "panel" }, progressEl, h("br"), fields),
        h(
          "div",
          { class: "cols" },
          h("div", {}, h("h2", {}, "Payload"), payload),
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
          : h(
              "div",
              { class: "table-wrap" },
              h(
                "table",
                {},
                h(
                  "thead",
                  {},
                  h(
                    "tr",
                    {},
                    ...["#", "Outcome", "Node", "Started", "Finished", "Duration", "Error"].map((c) => h("th", {}, c)),
                  ),
                ),
                h(
                  "tbody",
                  {},
                  ...a.attempts.map((x) =>
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

window.addEventListener("hashchange", route);
void start();
