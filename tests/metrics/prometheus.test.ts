import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { apiDepsFromRuntime, createApp } from "@conveyor/api";
import { createLogger } from "@conveyor/core";
import { createWorkerNode, type WorkerNode } from "@conveyor/worker";
import parsePrometheusTextFormat, { type MetricFamily } from "parse-prometheus-text-format";
import { createTestStack, eventually, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";

type Task = { id: string; status: string };

// What `promtool check metrics` would refuse: every line a `# HELP`/`# TYPE` comment, a sample
// of the family last typed, or blank; names and label names legal; one TYPE per family.
const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const VALUE = "(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]Inf|NaN)";
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL}(?:,${LABEL})*,?)?\\})? ${VALUE}(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) .*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

function lint(text: string): string[] {
  const problems: string[] = [];
  const typed = new Map<string, string>();
  let family: { name: string; type: string } | undefined;
  if (!text.endsWith("\n")) problems.push("the text does not end with a newline");
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = TYPE.exec(line);
    if (type) {
      const [, name = "", kind = ""] = type;
      if (typed.has(name)) problems.push(`TYPE given twice for ${name}`);
      typed.set(name, kind);
      family = { name, type: kind };
      if (kind === "counter" && !name.endsWith("_total")) problems.push(`counter ${name} does not end in _total`);
      continue;
    }
    if (HELP.test(line)) continue;
    const sample = SAMPLE.exec(line);
    if (!sample) {
      problems.push(`not a comment nor a sample: ${line}`);
      continue;
    }
    const name = sample[1] ?? "";
    const own =
      family?.type === "histogram"
        ? [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`]
        : [family?.name ?? ""];
    if (!own.includes(name)) problems.push(`sample ${name} outside its family (last TYPE: ${family?.name})`);
  }
  return problems;
}

/**
 * A scrape as the parser reads it: `families` as exposed, and `samples` with every histogram's
 * `_bucket`, `_sum` and `_count` lines as families of their own. The parser (1.1.1) folds a
 * histogram's series into one, dropping their labels, so series are put together from those.
 */
interface Scrape {
  families: MetricFamily[];
  samples: MetricFamily[];
}

/** Scrapes an app's `/metrics`, checks the text strictly, and parses it with a real parser. */
async function scrape(app: { request(path: string): Response | Promise<Response> }): Promise<Scrape> {
  const res = await app.request("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  expect(lint(text)).toEqual([]);
  return {
    families: parsePrometheusTextFormat(text),
    samples: parsePrometheusTextFormat(text.replace(/^# TYPE \S+ histogram$/gm, "")),
  };
}

function family({ families }: Scrape, name: string, type: MetricFamily["type"]): MetricFamily {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`no family ${name} in the scrape`);
  expect(f.type).toBe(type);
  expect(f.help.length).toBeGreaterThan(0);
  return f;
}

const sameLabels = (a: Record<string, string> | undefined, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b).sort());

/** The value of one series, or undefined when the family has no such series. */
function value(families: Scrape, name: string, type: MetricFamily["type"], labels: Record<string, string>) {
  const sample = family(families, name, type).metrics.find((m) => sameLabels(m.labels, labels));
  return sample && "value" in sample ? Number(sample.value) : undefined;
}

/** One histogram series, after checking its shape: buckets never fall, `+Inf` equals the count. */
function histogram(scraped: Scrape, name: string, labels: Record<string, string>) {
  family(scraped, name, "HISTOGRAM");
  const series = (suffix: string) =>
    // Each series' lines come together, so a suffix shows up as one family per series.
    scraped.samples
      .filter((f) => f.name === `${name}${suffix}`)
      .flatMap((f) => f.metrics)
      .flatMap((m) => {
        const { le, ...rest } = m.labels ?? {};
        return sameLabels(rest, labels) && "value" in m ? [{ le, value: Number(m.value) }] : [];
      });
  const buckets = series("_bucket").sort((a, b) => Number(a.le) - Number(b.le));
  if (buckets.length === 0) throw new Error(`no ${name} series for ${JSON.stringify(labels)}`);
  expect(buckets.at(-1)?.le).toBe("+Inf");
  for (let i = 1; i < buckets.length; i++) expect(buckets[i]?.value).toBeGreaterThanOrEqual(buckets[i - 1]?.value ?? 0);
  const [count] = series("_count");
  const [sum] = series("_sum");
  expect(buckets.at(-1)?.value).toBe(count?.value ?? Number.NaN);
  return {
    count: count?.value ?? Number.NaN,
    sum: sum?.value ?? Number.NaN,
    bucket: (le: string) => buckets.find((b) => b.le === le)?.value,
  };
}

describe("GET /metrics on the api and on a worker node (Prometheus text)", () => {
  let stack: TestStack;
  let node: WorkerNode;

  async function submit(body: Record<string, unknown>): Promise<Task> {
    const res = await stack.request("POST", "/v1/tasks", body);
    expect(res.status).toBe(202);
    return (await res.json()) as Task;
  }
  async function until(id: string, statuses: string[]): Promise<Task> {
    return eventually(
      async () => {
        const t = (await (await stack.request("GET", `/v1/tasks/${id}`)).json()) as Task;
        return statuses.includes(t.status) ? t : undefined;
      },
      { what: `task ${id} to be ${statuses.join(" or ")}` },
    );
  }

  beforeAll(async () => {
    stack = await createTestStack({ label: "prometheus" });
    // No node serves http_request here: its task stays waiting, so the queue gauge has something to show.
    node = await stack.startNode({ types: ["echo", "sleep"] });
  });
  afterAll(() => stack?.close());

  test("a worker node counts and times the attempts it ran, per type", async () => {
    const echoes = await Promise.all([1, 2, 3].map((i) => submit({ type: "echo", payload: { i } })));
    for (const t of echoes) expect((await until(t.id, ["completed", "failed"])).status).toBe("completed");

    // Two attempts that time out: the first leaves the task to run again, the second fails it.
    const slow = await submit({
      type: "sleep",
      payload: { ms: 20_000 },
      timeoutMs: 100,
      maxAttempts: 2,
      backoff: { strategy: "fixed", delayMs: 0 },
    });
    expect((await until(slow.id, ["completed", "failed"])).status).toBe("failed");

    const long = await submit({ type: "sleep", payload: { ms: 30_000 } });
    await until(long.id, ["running"]);
    const running = await scrape(node.http);
    expect(value(running, "conveyor_worker_active_tasks", "GAUGE", {})).toBe(1);
    expect((await stack.request("POST", `/v1/tasks/${long.id}/cancel`)).status).toBe(200);
    await eventually(() => node.activeCount === 0, { what: "the cancelled attempt to end" });

    const families = await eventually(async () => {
      const f = await scrape(node.http);
      // The counter moves right after the ledger write the API already shows: wait for it.
      return value(f, "conveyor_tasks_cancelled_total", "COUNTER", { type: "sleep" }) === 1 ? f : undefined;
    });
    expect(value(families, "conveyor_tasks_completed_total", "COUNTER", { type: "echo" })).toBe(3);
    expect(value(families, "conveyor_tasks_completed_total", "COUNTER", { type: "sleep" })).toBeUndefined();
    expect(value(families, "conveyor_tasks_timed_out_total", "COUNTER", { type: "sleep" })).toBe(2);
    expect(value(families, "conveyor_tasks_retried_total", "COUNTER", { type: "sleep" })).toBe(1);
    expect(value(families, "conveyor_tasks_failed_total", "COUNTER", { type: "sleep" })).toBe(1);
    expect(value(families, "conveyor_tasks_failed_total", "COUNTER", { type: "echo" })).toBeUndefined();
    expect(value(families, "conveyor_worker_active_tasks", "GAUGE", {})).toBe(0);
    expect(value(families, "conveyor_event_loop_lag_seconds", "GAUGE", {})).toBeGreaterThanOrEqual(0);

    const echoRun = histogram(families, "conveyor_task_run_seconds", { type: "echo" });
    expect(echoRun.count).toBe(3);
    // Two timed out attempts (100 ms each at least) and the cancelled one.
    const sleepRun = histogram(families, "conveyor_task_run_seconds", { type: "sleep" });
    expect(sleepRun.count).toBe(3);
    expect(sleepRun.sum).toBeGreaterThanOrEqual(0.2);
    // Only the cancelled attempt may have been that quick.
    expect(sleepRun.bucket("0.05")).toBeLessThanOrEqual(1);
    expect(histogram(families, "conveyor_task_wait_seconds", { type: "echo" }).count).toBe(3);
    expect(histogram(families, "conveyor_task_wait_seconds", { type: "sleep" }).count).toBe(3);
    for (const f of families.samples.filter((x) => x.name.startsWith("conveyor_task"))) {
      for (const m of f.metrics) expect(Object.keys(m.labels ?? {}).filter((l) => l !== "le")).toEqual(["type"]);
    }
  });

  test("the api counts requests by route pattern and reads queues and nodes at scrape time", async () => {
    const delayed = await submit({ type: "echo", payload: {}, delayMs: 3_600_000 });
    await submit({ type: "http_request", payload: { url: "https://example.com/" } });
    expect((await stack.request("GET", `/v1/tasks/${delayed.id}`)).status).toBe(200);
    expect((await stack.request("GET", `/v1/tasks/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await stack.request("GET", "/no/such/path/42")).status).toBe(404);

    const families = await scrape(stack.app);
    const requests = (labels: Record<string, string>) =>
      value(families, "conveyor_http_requests_total", "COUNTER", labels);
    // 3 echoes, 2 sleeps and the 2 submissions above.
    expect(requests({ method: "POST", route: "/v1/tasks", status: "202" })).toBe(7);
    expect(requests({ method: "POST", route: "/v1/tasks/:id/cancel", status: "200" })).toBe(1);
    expect(requests({ method: "GET", route: "/v1/tasks/:id", status: "404" })).toBe(1);
    expect(requests({ method: "GET", route: "unmatched", status: "404" })).toBe(1);
    const routes = family(families, "conveyor_http_requests_total", "COUNTER").metrics.map((m) => m.labels?.route);
    // Patterns only: no task id and no raw unknown path becomes a label value.
    for (const route of routes) expect(route).not.toMatch(/[0-9a-f]{8}-|\/no\/such/);
    const polled = histogram(families, "conveyor_http_request_duration_seconds", {
      method: "GET",
      route: "/v1/tasks/:id",
    });
    expect(polled.count).toBeGreaterThanOrEqual(5);

    for (const type of stack.runtime.catalog.types) {
      expect(value(families, "conveyor_queue_waiting", "GAUGE", { type })).toBe(type === "http_request" ? 1 : 0);
      expect(value(families, "conveyor_queue_delayed", "GAUGE", { type })).toBe(type === "echo" ? 1 : 0);
      expect(value(families, "conveyor_queue_active", "GAUGE", { type })).toBe(0);
    }
    expect(value(families, "conveyor_nodes", "GAUGE", { status: "up" })).toBe(1);
    expect(value(families, "conveyor_nodes", "GAUGE", { status: "lost" })).toBe(0);
  });

  test("METRICS_ENABLED=false: no /metrics on either app (404 in the error shape)", async () => {
    const log = createLogger("test", "silent");
    const app = createApp(
      apiDepsFromRuntime(stack.runtime, { adminKey: TEST_ADMIN_KEY, log, maxBodyBytes: 1024, metricsEnabled: false }),
    );
    const worker = createWorkerNode({
      ledger: stack.runtime.ledger,
      catalog: stack.runtime.catalog,
      events: stack.runtime.events,
      redis: stack.redis,
      queuePrefix: stack.prefix,
      log,
      lockMs: 30_000,
      metricsEnabled: false,
    });
    for (const res of [await app.request("/metrics"), await worker.http.request("/metrics")]) {
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
    }
    expect((await app.request("/healthz")).status).toBe(200);
    expect((await worker.http.request("/healthz")).status).toBe(200);
  });
});
