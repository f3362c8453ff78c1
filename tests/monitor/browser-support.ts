import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

/** Debian's Chromium: `.ci/run` installs it when missing (`npx playwright install` does not work here). */
export const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOTS = join(import.meta.dir, "../../.data/test/screenshots");
/** Where a run may leave screenshots of the pages for people to look at (unset: none). */
export const SHOTS_FOR_REVIEW = process.env.DASHBOARD_SCREENSHOTS_DIR;

/** A headless Chromium with one page, collecting every console error and page error it sees. */
export interface BrowserSession {
  browser: Browser;
  page: Page;
  /** Console and page errors nobody expected: a test ends by asserting there are none. */
  problems: string[];
  /** What the page may log without it being a problem. */
  expected: {
    /** Until then, the page's `/v1/whoami` answering 401 is how it learns it must log in. */
    loggedIn: boolean;
    /** Requests a test makes fail on purpose (to show an error state). */
    failing: RegExp | null;
  };
  /** Runs a browser step; on failure keeps a screenshot under .data/test/screenshots/ before failing. */
  step(name: string, fn: () => Promise<void>): Promise<void>;
  /**
   * Runs `fn` with a page of a fresh browser context (no session cookie) that has logged in with
   * `key` at `url` (a dashboard address such as `…/#/failures`); the context closes after.
   */
  as(key: string, url: string, fn: (page: Page) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

/** Launches Chromium as the tests run it; `name` prefixes failure screenshots. */
export async function openBrowser(name: string): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install it (apt-get install chromium) to run the browser tests`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  const expected: BrowserSession["expected"] = { loggedIn: false, failing: null };
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const url = m.location().url;
    if (!expected.loggedIn && url.endsWith("/v1/whoami") && m.text().includes("401")) return;
    if (expected.failing?.test(url)) return;
    problems.push(`console: ${m.text()} (${url})`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  return {
    browser,
    page,
    problems,
    expected,
    async step(step, fn) {
      try {
        await fn();
      } catch (err) {
        mkdirSync(SCREENSHOTS, { recursive: true });
        const file = join(SCREENSHOTS, `${name}-${step}-${Date.now()}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => {});
        throw new Error(`${(err as Error).message}\n(screenshot: ${file})`);
      }
    },
    async as(key, url, fn) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      try {
        const other = await context.newPage();
        other.setDefaultTimeout(10_000);
        await other.goto(url);
        await other.locator("#api-key").fill(key);
        await other.getByRole("button", { name: "Log in" }).click();
        await fn(other);
      } finally {
        await context.close();
      }
    },
    close: () => browser.close(),
  };
}
