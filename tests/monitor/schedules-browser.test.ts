import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Schedule } from "@conveyor/scheduler";
import type { Page } from "playwright-core";
import { createTestStack, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { type BrowserSession, openBrowser, SHOTS_FOR_REVIEW } from "./browser-support.ts";
import { type ServedMonitor, serveMonitor } from "./serve.ts";

const HOUR = 3_600_000;

describe("monitor: the schedules page in a browser", () => {
  let stack: TestStack;
  let served: ServedMonitor;
  let page: Page;
  let session: BrowserSession;
  let problems: string[] = [];

  beforeAll(async () => {
    stack = await createTestStack({ label: "schedules-browser" });
    await stack.startNode({ types: ["echo"] });
    served = await serveMonitor(stack);
    session = await openBrowser("schedules");
    ({ page, problems } = session);
  });

  afterAll(async () => {
    await session?.close();
    await served?.close();
    await stack?.close();
  });

  const step = (name: string, fn: () => Promise<void>) => session.step(name, fn);

  const go = (hash: string) =>
    page.evaluate((h) => {
      location.hash = h;
    }, hash);

  const create = async (body: Record<string, unknown>): Promise<Schedule> => {
    const res = await stack.request("POST", "/v1/schedules", body);
    expect(res.status).toBe(201);
    return (await res.json()) as Schedule;
  };
  const read = async (id: string): Promise<Schedule> => (await stack.request("GET", `/v1/schedules/${id}`)).json();

  test("logged in, with no schedule yet, the page says so", async () => {
    await step("empty", async () => {
      await page.goto(`${served.url}/#/schedules`);
      await page.locator("#api-key").fill(TEST_ADMIN_KEY);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.locator("#whoami").waitFor();
      session.expected.loggedIn = true;
      await page.locator('header nav a[href="#/schedules"]').click();
      await page.locator("#schedules [data-state=empty]", { hasText: "No schedules yet." }).waitFor();
      expect(await page.locator('header nav a[href="#/schedules"]').getAttribute("class")).toContain("active");
    });
  });

  test("an error loading the schedules is shown as one, and the page recovers", async () => {
    await step("error", async () => {
      session.expected.failing = /\/v1\/schedules$/;
      await page.route("**/v1/schedules", (route) =>
        route.fulfill({
          status: 503,
          contentType: "application/json",
          body: JSON.stringify({ error: { code: "unavailable", message: "the ledger is unavailable", details: [] } }),
        }),
      );
      try {
        await go("#/");
        await go("#/schedules");
        await page
          .locator("#schedules [data-state=error]", {
            hasText: "Schedules could not be loaded: the ledger is unavailable",
          })
          .waitFor();
      } finally {
        await page.unroute("**/v1/schedules");
      }
      await go("#/");
      await go("#/schedules");
      await page.locator("#schedules [data-state=empty]").waitFor();
      session.expected.failing = null;
    });
  });

  test("schedules are listed with their timing, next and last run", async () => {
    await step("list", async () => {
      const hourly = await create({ name: "hourly report", everyMs: HOUR, task: { type: "echo", payload: { r: 1 } } });
      await create({
        name: "tokyo mornings",
        cron: "0 9 * * 1-5",
        timezone: "Asia/Tokyo",
        task: { type: "echo", payload: {} },
      });
      await go("#/");
      await go("#/schedules");
      const row = page.locator(`#schedules-table tr[data-schedule-id="${hourly.id}"]`);
      await row.waitFor();
      expect(await page.locator("#schedules-table tbody tr").count()).toBe(2);
      expect(await row.locator("td").nth(0).textContent()).toBe("hourly report");
      expect(await row.locator("td").nth(1).textContent()).toBe("every 1 h");
      expect(await row.locator("td").nth(2).textContent()).toBe("echo");
      expect(await row.locator("[data-schedule-state]").getAttribute("data-schedule-state")).toBe("active");
      expect(await row.locator("[data-next-run]").getAttribute("data-next-run")).toBe(hourly.nextRunAt as string);
      expect(await row.locator("[data-last-run]").textContent()).toBe("—");
      const tokyo = page.locator("#schedules-table tr", { hasText: "tokyo mornings" });
      expect(await tokyo.locator("td").nth(1).textContent()).toBe("0 9 * * 1-5 Asia/Tokyo");
    });
  });

  test("Run now makes a run: a notice links its task, the last run shows it, the runs link lists it", async () => {
    await step("trigger", async () => {
      const [s] = (await (await stack.request("GET", "/v1/schedules")).json()).schedules as Schedule[];
      const row = page.locator(`#schedules-table tr[data-schedule-id="${s?.id}"]`);
      await row.locator('button[data-action="trigger"]').click();
      const notice = page.locator("#schedules-notice", { hasText: "Ran “hourly report” now" });
      await notice.waitFor();
      const after = await read(s?.id as string);
      expect(after.lastTaskId).not.toBeNull();
      expect(await notice.locator("a").getAttribute("href")).toBe(`#/tasks/${after.lastTaskId}`);
      await row.locator(`[data-last-run] a[href="#/tasks/${after.lastTaskId}"]`).waitFor();
      expect(await row.locator("[data-last-run]").getAttribute("data-last-run")).toBe(after.lastRunAt as string);
      // The ticks were left as they were.
      expect(after.nextRunAt).toBe(s?.nextRunAt as string);
      await row.getByRole("link", { name: "runs" }).click();
      await page.locator("#tasks-schedule").waitFor();
      await page.locator(`#tasks tr[data-task-id="${after.lastTaskId}"] [data-status="completed"]`).waitFor();
      expect(await page.locator("#tasks tr[data-task-id]").count()).toBe(1);
      expect(page.url()).toContain(`scheduleId=${s?.id}`);
      await go("#/schedules");
      await row.waitFor();
    });
  });

  test("Pause clears the next run; Resume brings it back", async () => {
    await step("pause", async () => {
      const [s] = (await (await stack.request("GET", "/v1/schedules")).json()).schedules as Schedule[];
      const row = page.locator(`#schedules-table tr[data-schedule-id="${s?.id}"]`);
      await row.locator('button[data-action="pause"]').click();
      await row.locator('[data-schedule-state="paused"]').waitFor();
      expect(await row.locator("[data-next-run]").textContent()).toBe("—");
      expect(await read(s?.id as string)).toMatchObject({ paused: true, nextRunAt: null });
      await page.locator("#schedules-notice", { hasText: "Paused “hourly report”." }).waitFor();
      await row.locator('button[data-action="resume"]').click();
      await row.locator('[data-schedule-state="active"]').waitFor();
      const resumed = await read(s?.id as string);
      expect(resumed.paused).toBe(false);
      await page.waitForFunction(
        ([id, next]) =>
          document.querySelector(`tr[data-schedule-id="${id}"] [data-next-run]`)?.getAttribute("data-next-run") ===
          next,
        [s?.id, resumed.nextRunAt],
      );
      if (SHOTS_FOR_REVIEW)
        await page.screenshot({ path: join(SHOTS_FOR_REVIEW, "dashboard-schedules.png"), fullPage: true });
    });
  });

  test("a read-only key sees the schedules but no action buttons", async () => {
    await step("read-only", async () => {
      const res = await stack.request("POST", "/v1/keys", {
        tenant: "default",
        name: "reader",
        scopes: ["tasks:read"],
      });
      expect(res.status).toBe(201);
      const { key } = (await res.json()) as { key: string };
      await session.as(key, `${served.url}/#/schedules`, async (reader) => {
        await reader.locator("#schedules-table tbody tr").first().waitFor();
        expect(await reader.locator("#schedules-table tbody tr").count()).toBe(2);
        expect(await reader.locator("#schedules-table button").count()).toBe(0);
        expect(await reader.locator("#schedules-table thead th").count()).toBe(7);
      });
    });
  });

  test("Delete asks first; Keep keeps it, Yes deletes it", async () => {
    await step("delete", async () => {
      const { schedules } = (await (await stack.request("GET", "/v1/schedules")).json()) as { schedules: Schedule[] };
      for (const [i, s] of schedules.entries()) {
        const row = page.locator(`#schedules-table tr[data-schedule-id="${s.id}"]`);
        await row.locator('button[data-action="ask-delete"]').click();
        await row.locator("text=Delete this schedule?").waitFor();
        if (i === 0) {
          await row.locator('button[data-action="keep"]').click();
          await row.locator('button[data-action="ask-delete"]').waitFor();
          expect((await stack.request("GET", `/v1/schedules/${s.id}`)).status).toBe(200);
          await row.locator('button[data-action="ask-delete"]').click();
        }
        await row.locator('button[data-action="delete"]').click();
        await row.waitFor({ state: "detached" });
        expect((await stack.request("GET", `/v1/schedules/${s.id}`)).status).toBe(404);
      }
      await page.locator("#schedules [data-state=empty]").waitFor();
      await page.locator("#schedules-notice", { hasText: "The tasks it made are kept." }).waitFor();
    });
  });

  test("the page logged no console errors and threw nothing", () => {
    expect(problems).toEqual([]);
  });
});
