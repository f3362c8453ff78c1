import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Task } from "@conveyor/scheduler";
import type { Page } from "playwright-core";
import { createTestStack, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { type BrowserSession, openBrowser, SHOTS_FOR_REVIEW } from "./browser-support.ts";
import { type ServedMonitor, serveMonitor } from "./serve.ts";

describe("monitor: the dashboard in a browser", () => {
  let stack: TestStack;
  let served: ServedMonitor;
  let page: Page;
  let session: BrowserSession;
  let problems: string[] = [];

  beforeAll(async () => {
    stack = await createTestStack({ label: "monitor-browser" });
    await stack.startNode({ types: ["sleep", "echo"] });
    served = await serveMonitor(stack);
    session = await openBrowser("dashboard");
    ({ page, problems } = session);
  });

  afterAll(async () => {
    await session?.close();
    await served?.close();
    await stack?.close();
  });

  const step = (name: string, fn: () => Promise<void>) => session.step(name, fn);

  const submit = async (type: string, payload: unknown): Promise<Task> => {
    const res = await stack.request("POST", "/v1/tasks", { type, payload });
    expect(res.status).toBe(202);
    return (await res.json()) as Task;
  };

  test("log in with an API key: the overview shows counts and live metrics", async () => {
    await step("login", async () => {
      await page.goto(served.url);
      await page.locator("#api-key").fill(TEST_ADMIN_KEY);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.locator("#summary [data-count=completed]").waitFor();
      session.expected.loggedIn = true;
      await page.locator("#metrics .card").first().waitFor();
      expect(await page.locator("#whoami").textContent()).toContain("default");
      // The key is exchanged for a cookie: it is in no URL and not kept by the page.
      expect(page.url()).not.toContain(TEST_ADMIN_KEY);
      const stored = await page.evaluate(
        () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
      );
      expect(stored).not.toContain(TEST_ADMIN_KEY);
      expect(await page.locator("#api-key").count()).toBe(0);
    });
  });

  test("a submitted echo task appears in the list and reaches completed without a reload", async () => {
    await step("echo", async () => {
      await page.evaluate(() => {
        location.hash = "#/tasks";
      });
      await page.locator("#tasks table, #tasks [data-state]").first().waitFor();
      const marker = await page.evaluate(() => {
        (window as unknown as { marker: number }).marker = 1;
        return 1;
      });
      const task = await submit("echo", { hello: "browser" });
      const row = page.locator(`tr[data-task-id="${task.id}"]`);
      await row.waitFor();
      expect(await row.locator("td").first().textContent()).toBe(task.id.slice(-12));
      expect(await row.locator("td span").first().getAttribute("title")).toBe(task.id);
      await row.locator('[data-status="completed"]').waitFor();
      // No reload happened: the page's own state survived.
      expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(marker);
    });
  });

  test("the overview charts the last hour once a task has completed", async () => {
    await step("charts", async () => {
      // Worker nodes write their rollups every few seconds: wait until the series has the echo task.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const res = await stack.request("GET", "/v1/metrics/series?window=1h&step=1m");
        const { points } = (await res.json()) as { points: { completed: number }[] };
        if (points.some((p) => p.completed > 0)) break;
        if (Date.now() > deadline) throw new Error("the metrics series never showed the completed task");
        await Bun.sleep(500);
      }
      await go("#/tasks");
      await go("#/");
      await page.locator('#charts svg.chart[data-chart="throughput"] path.series').first().waitFor();
      expect(await page.locator("#charts svg.chart").count()).toBe(3);
      expect(await page.locator("#charts [data-state]").count()).toBe(0);
      expect(await page.locator("#charts", { hasText: "No tasks in the last hour." }).count()).toBe(0);
      const d = await page.locator('#charts [data-chart="throughput"] path.c-completed').getAttribute("d");
      expect(d ?? "").toMatch(/^M/);
      expect(await page.locator('#charts [data-chart="run-time"] .c-p50').count()).toBeGreaterThan(0);
      if (SHOTS_FOR_REVIEW)
        await page.screenshot({ path: join(SHOTS_FOR_REVIEW, "dashboard-charts.png"), fullPage: true });
    });
  });

  test("the tasks page pages with Older/Newer and filters by created time", async () => {
    await step("paging", async () => {
      for (let i = 0; i < 3; i++) await submit("echo", { page: i });
      await go("#/tasks?limit=2");
      const ids = () =>
        page.locator("#tasks tr[data-task-id]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-task-id")));
      await page.waitForFunction(() => document.querySelectorAll("#tasks tr[data-task-id]").length === 2);
      const first = await ids();
      const older = page.locator("#page-older");
      await page.waitForFunction(() => !(document.querySelector("#page-older") as HTMLButtonElement).disabled);
      await older.click();
      await page.waitForFunction(
        (id) =>
          !!document.querySelector("#tasks tr[data-task-id]") && !document.querySelector(`tr[data-task-id="${id}"]`),
        first[0],
      );
      const second = await ids();
      expect(second.length).toBe(2);
      for (const id of second) expect(first).not.toContain(id);
      // Newest first: every task on the older page was created before those on the first.
      expect(String(second[0]) < String(first[1])).toBe(true);
      await page.locator("#page-info", { hasText: "page 2" }).waitFor();
      await page.locator("#page-newer").click();
      await page.locator(`#tasks tr[data-task-id="${first[0]}"]`).waitFor();

      await go("#/tasks");
      await page.locator("#tasks table").waitFor();
      await page.locator("#filter-since").fill("2099-01-01T00:00");
      await page.getByRole("button", { name: "Search" }).click();
      await page.locator("#tasks [data-state=empty]", { hasText: "No task matches these filters." }).waitFor();
      expect(page.url()).toContain("since=2099");
      await page.locator("#filter-since").fill("2000-01-01T00:00");
      await page.locator("#filter-until").fill("2099-01-01T00:00");
      await page.getByRole("button", { name: "Search" }).click();
      await page.locator("#tasks tr[data-task-id]").first().waitFor();
      await page.locator("#filter-since").fill("");
      await page.locator("#filter-until").fill("2000-01-01T00:00");
      await page.getByRole("button", { name: "Search" }).click();
      await page.locator("#tasks [data-state=empty]", { hasText: "No task matches these filters." }).waitFor();
    });
  });

  test("a task is run again with a changed payload from its detail page", async () => {
    await step("rerun", async () => {
      const task = await submit("echo", { hello: "first" });
      await go(`#/tasks/${task.id}`);
      await page.locator("#task-payload", { hasText: "first" }).waitFor();
      await page.locator("#rerun summary").click();
      const text = page.locator("#rerun-payload");
      expect(JSON.parse(await text.inputValue())).toEqual({ hello: "first" });
      await text.fill("{ not json");
      await page.locator("#rerun-submit").click();
      await page.locator("#rerun-message", { hasText: "not valid JSON" }).waitFor();
      expect(page.url()).toContain(task.id);
      await text.fill(JSON.stringify({ hello: "second" }));
      await page.locator("#rerun-submit").click();
      await page.waitForURL((u) => /#\/tasks\/[0-9a-f-]+$/.test(u.hash) && !u.hash.includes(task.id));
      await page.locator("#task-payload", { hasText: "second" }).waitFor();
      await page.locator('#task-status [data-status="completed"]').waitFor();
      const id = decodeURIComponent(page.url().split("#/tasks/")[1] ?? "");
      const res = await stack.request("GET", `/v1/tasks/${id}`);
      expect((await res.json()) as { type: string; payload: unknown }).toMatchObject({
        type: "echo",
        payload: { hello: "second" },
      });
      // The next test starts from the task list.
      await go("#/tasks");
      await page.locator("#tasks table").waitFor();
    });
  });

  test("a running sleep task opened from the list is cancelled with its Cancel button", async () => {
    await step("cancel", async () => {
      const task = await submit("sleep", { ms: 30_000 });
      const row = page.locator(`tr[data-task-id="${task.id}"]`);
      await row.locator('[data-status="running"]').waitFor();
      await row.click();
      await page.locator('#task-status [data-status="running"]').waitFor();
      await page.locator("#task-payload", { hasText: "30000" }).waitFor();
      await page.locator("#task-attempts table").waitFor();
      await page.locator("#retry").waitFor({ state: "detached" });
      if (SHOTS_FOR_REVIEW) {
        await page.waitForFunction(
          () => Number(document.querySelector("#task-progress [aria-valuenow]")?.getAttribute("aria-valuenow")) > 0,
        );
        await page.screenshot({ path: join(SHOTS_FOR_REVIEW, "dashboard-task.png"), fullPage: true });
      }
      await page.locator("#cancel").click();
      await page.locator('#task-status [data-status="cancelled"]').waitFor();
      await page.locator("#retry").waitFor();
      expect(await page.locator("#cancel").count()).toBe(0);
      await page.locator("#task-attempts", { hasText: "cancelled" }).waitFor();
      const res = await stack.request("GET", `/v1/tasks/${task.id}`);
      expect(((await res.json()) as Task).status).toBe("cancelled");
    });
    if (SHOTS_FOR_REVIEW) {
      await page.evaluate(() => {
        location.hash = "#/";
      });
      await page.locator("#recent table").waitFor();
      await page.locator("#metrics .card").first().waitFor();
      await page.screenshot({ path: join(SHOTS_FOR_REVIEW, "dashboard-overview.png") });
    }
  });

  const go = (hash: string) =>
    page.evaluate((h) => {
      location.hash = h;
    }, hash);

  test("a timed-out task shows up on the failures page and its group is retried", async () => {
    await step("failures", async () => {
      const res = await stack.request("POST", "/v1/tasks", {
        type: "sleep",
        payload: { ms: 5000 },
        timeoutMs: 50,
        maxAttempts: 1,
      });
      expect(res.status).toBe(202);
      const task = (await res.json()) as Task;
      const done = await stack.request("GET", `/v1/tasks/${task.id}?waitMs=10000`);
      expect(((await done.json()) as Task).status).toBe("failed");
      await go("#/failures");
      const row = page.locator('#failures-table tr[data-failure-type="sleep"][data-failure-code="timed_out"]');
      await row.waitFor();
      expect(await row.locator("td").nth(3).textContent()).toBe("1");
      expect(await row.locator(`a[href="#/tasks/${task.id}"]`).count()).toBe(1);
      if (SHOTS_FOR_REVIEW)
        await page.screenshot({ path: join(SHOTS_FOR_REVIEW, "dashboard-failures.png"), fullPage: true });
      await row.getByRole("button", { name: "Retry this group" }).click();
      await page.locator("#failures-notice", { hasText: "1 retried" }).waitFor();
      const again = await stack.request("GET", `/v1/tasks/${task.id}`);
      expect(((await again.json()) as { attempts: number }).attempts).toBeGreaterThanOrEqual(1);
    });
  });

  test("the submit page builds a form from the payload schema, validates it and opens the new task", async () => {
    await step("submit", async () => {
      const posted: string[] = [];
      const watch = (r: { method(): string; url(): string }) => {
        if (r.method() === "POST" && new URL(r.url()).pathname === "/v1/tasks") posted.push(r.url());
      };
      page.on("request", watch);
      try {
        await go("#/submit");
        await page.locator("#submit-type").selectOption("sleep");
        const ms = page.locator("#field-ms");
        await ms.waitFor();
        expect(await page.locator('[data-field="ms"] .required').count()).toBe(1);
        await ms.fill("-5");
        await page.locator("#submit-task").click();
        await page.locator('[data-error-for="ms"]', { hasText: "at least 0" }).waitFor();
        await ms.fill("");
        await page.locator("#submit-task").click();
        await page.locator('[data-error-for="ms"]', { hasText: "required" }).waitFor();
        expect(posted).toEqual([]);
        expect(page.url()).toContain("#/submit");
        await ms.fill("200");
        await page.locator("#submit-priority").selectOption("high");
        if (SHOTS_FOR_REVIEW)
          await page.screenshot({ path: join(SHOTS_FOR_REVIEW, "dashboard-submit.png"), fullPage: true });
        await page.locator("#submit-task").click();
        await page.waitForURL(/#\/tasks\/[0-9a-f-]+$/);
        await page.locator('#task-status [data-status="completed"]').waitFor();
        await page.locator("#task-payload", { hasText: "200" }).waitFor();
        expect(posted.length).toBe(1);
        const id = decodeURIComponent(page.url().split("#/tasks/")[1] ?? "");
        const res = await stack.request("GET", `/v1/tasks/${id}`);
        expect((await res.json()) as { priority: string; payload: unknown }).toMatchObject({
          priority: "high",
          payload: { ms: 200 },
        });
      } finally {
        page.off("request", watch);
      }
    });
  });

  test("the queues page pauses and resumes the echo queue", async () => {
    await step("queues", async () => {
      await page.locator('header nav a[href="#/queues"]').click();
      const row = page.locator('#queues-table tr[data-queue="echo"]');
      await row.waitFor();
      await row.locator('button[data-action="pause"]').click();
      await row.locator('[data-queue-state="paused"]').waitFor();
      const paused = await stack.request("GET", "/v1/queues");
      const q = ((await paused.json()) as { queues: { type: string; paused: boolean }[] }).queues;
      expect(q.find((x) => x.type === "echo")?.paused).toBe(true);
      await row.locator('button[data-action="resume"]').click();
      await row.locator('[data-queue-state="running"]').waitFor();
      const resumed = await stack.request("GET", "/v1/queues");
      const r = ((await resumed.json()) as { queues: { type: string; paused: boolean }[] }).queues;
      expect(r.find((x) => x.type === "echo")?.paused).toBe(false);
    });
  });

  test("the nodes page lists the running node as up", async () => {
    await step("nodes", async () => {
      await page.locator('header nav a[href="#/nodes"]').click();
      await page.locator('#nodes-table [data-status="up"]').first().waitFor();
      expect(await page.locator("#nodes-table tbody tr").first().textContent()).toContain("MB");
    });
  });

  test("a read-only key sees failures without retry buttons, and no submit, queues or nodes pages", async () => {
    await step("read-only", async () => {
      const res = await stack.request("POST", "/v1/keys", {
        tenant: "default",
        name: "dashboard reader",
        scopes: ["tasks:read"],
      });
      expect(res.status).toBe(201);
      const { key } = (await res.json()) as { key: string };
      await session.as(key, `${served.url}/#/failures`, async (reader) => {
        await reader.locator('#failures-table tr[data-failure-type="sleep"]').waitFor();
        expect(await reader.getByRole("button", { name: "Retry this group" }).count()).toBe(0);
        for (const hidden of ["#/submit", "#/queues", "#/nodes"]) {
          expect(await reader.locator(`header nav a[href="${hidden}"]`).count()).toBe(0);
        }
      });
    });
  });

  test("the overview warns of waiting tasks of a type no up node serves", async () => {
    await step("unserved", async () => {
      // The test node serves sleep and echo only: a data_processing task waits with no node for it.
      await submit("data_processing", {
        sourceUrl: "https://example.com/x.csv",
        transformations: [],
        outputFormat: "json",
      });
      await go("#/tasks");
      await go("#/");
      const warning = page.locator("#unserved-warning");
      await warning.locator('[data-unserved-type="data_processing"]').waitFor();
      expect(await warning.isVisible()).toBe(true);
      expect(await warning.textContent()).toContain("data_processing");
      expect(await warning.locator('[data-unserved-type="echo"]').count()).toBe(0);
    });
  });

  test("the page logged no console errors and threw nothing", () => {
    expect(problems).toEqual([]);
  });
});
