import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { createTestStack, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { type ServedMonitor, serveMonitor } from "./serve.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOTS = join(import.meta.dir, "../../.data/test/screenshots");
/** Where a run may leave screenshots of the overview and a task detail for people to look at (unset: none). */
const SHOTS_FOR_REVIEW = process.env.DASHBOARD_SCREENSHOTS_DIR;

interface Task {
  id: string;
  status: string;
}

describe("monitor: the dashboard in a browser", () => {
  let stack: TestStack;
  let served: ServedMonitor;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  let loggedIn = false;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install it (apt-get install chromium) to run the browser tests`);
    }
    stack = await createTestStack({ label: "monitor-browser" });
    await stack.startNode({ types: ["sleep", "echo"] });
    served = await serveMonitor(stack);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(10_000);
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      const url = m.location().url;
      // Before logging in, the page asks who it is and the browser reports the expected 401.
      if (!loggedIn && url.endsWith("/v1/whoami") && m.text().includes("401")) return;
      problems.push(`console: ${m.text()} (${url})`);
    });
    page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    await stack?.close();
  });

  /** Runs a browser step; on failure keeps a screenshot under .data/test/screenshots/ before failing. */
  async function step(name: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const file = join(SCREENSHOTS, `${name}-${Date.now()}.png`);
      await page?.screenshot({ path: file, fullPage: true }).catch(() => {});
      throw new Error(`${(err as Error).message}\n(screenshot: ${file})`);
    }
  }

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
      loggedIn = true;
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

  test("the page logged no console errors and threw nothing", () => {
    expect(problems).toEqual([]);
  });
});
