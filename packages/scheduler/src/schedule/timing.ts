import type { ErrorDetail } from "@conveyor/core";
import { CronExpressionParser } from "cron-parser";

/** When a schedule ticks: a cron expression in a time zone, or a fixed interval from an anchor. */
export interface Timing {
  cron: string | null;
  everyMs: number | null;
  timezone: string;
  /** `everyMs` ticks fall on `anchorAt + k * everyMs`, k >= 1. */
  anchorAt: Date;
}

/** True when `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why a cron expression cannot be used, or null when it can: 5 fields, or 6 with seconds
 * first, that cron-parser accepts and that fire at least once (`0 0 30 2 *` never does).
 */
export function cronProblem(cron: string, timezone: string): string | null {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    return `expected 5 fields (minute hour day month weekday), or 6 with seconds first; got ${fields.length}`;
  }
  try {
    CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date() }).next();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The contract's details for a timing that cannot be used (empty when it can). */
export function timingDetails(t: { cron: string | null; everyMs: number | null; timezone: string }): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  if ((t.cron === null) === (t.everyMs === null)) {
    details.push({ path: ["cron"], code: "invalid_combination", message: "give exactly one of cron and everyMs" });
  }
  if (!isTimeZone(t.timezone)) {
    details.push({ path: ["timezone"], code: "invalid_timezone", message: `unknown time zone '${t.timezone}'` });
  } else if (t.cron !== null) {
    const problem = cronProblem(t.cron, t.timezone);
    if (problem)
      details.push({ path: ["cron"], code: "invalid_cron", message: `not a valid cron expression: ${problem}` });
  }
  return details;
}

/** The first tick strictly after `now`. */
export function nextTick(t: Timing, now: Date = new Date()): Date {
  if (t.everyMs !== null) {
    const since = now.getTime() - t.anchorAt.getTime();
    const k = Math.max(1, Math.floor(since / t.everyMs) + 1);
    return new Date(t.anchorAt.getTime() + k * t.everyMs);
  }
  return CronExpressionParser.parse(t.cron as string, { tz: t.timezone, currentDate: now })
    .next()
    .toDate();
}
