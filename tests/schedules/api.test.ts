import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Queue } from "bullmq";
import { createTestStack, type TestStack } from "../harness/index.ts";
import { createSchedule, expectError, expectJson, runsOf, type Schedule, type Task } from "./support.ts";

const HOUR = 3_600_000;

/** The wall-clock time of `iso` in `timeZone`, as `HH:MM:SS`. */
const wallClock = (iso: string, timeZone: string) =>
  new Intl.DateTimeFormat("en-GB", {
    timeZone,
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).format(new Date(iso));

describe("schedules over the API", () => {
  let stack: TestStack;
  let writerA: string;
  let readerA: string;
  let writerB: string;

  async function makeKey(tenant: string, scopes: string[]): Promise<string> {
    const res = await stack.request("POST", "/v1/keys", { tenant, name: `${tenant} ${scopes}`, scopes });
    return (await expectJson<{ key: string }>(res, 201)).key;
  }

  /** The job scheduler in Redis, as BullMQ keeps it under the internal `{__schedules}` queue. */
  async function jobScheduler(id: string) {
    const q = new Queue("{__schedules}", { connection: stack.runtime.redis, prefix: stack.prefix });
    try {
      return (await q.getJobScheduler(id)) ?? null;
    } finally {
      await q.close();
    }
  }

  beforeAll(async () => {
    stack = await createTestStack({ label: "schedules-api" });
    writerA = await makeKey("tenant-a", ["tasks:write"]);
    readerA = await makeKey("tenant-a", ["tasks:read"]);
    writerB = await makeKey("tenant-b", ["tasks:write"]);
  });
  afterAll(async () => {
    await stack?.close();
  });

  test("create an interval schedule: 201, defaults, first run one interval after creation, a job scheduler in Redis", async () => {
    const s = await createSchedule(stack, {
      name: "hourly echo",
      everyMs: HOUR,
      task: { type: "echo", payload: { n: 1 } },
    });
    expect(Object.keys(s).sort()).toEqual(
      [
        "id",
        "name",
        "cron",
        "everyMs",
        "timezone",
        "task",
        "paused",
        "nextRunAt",
        "lastRunAt",
        "lastTaskId",
        "createdAt",
      ].sort(),
    );
    expect(s).toMatchObject({
      name: "hourly echo",
      cron: null,
      everyMs: HOUR,
      timezone: "UTC",
      task: { type: "echo", payload: { n: 1 } },
      paused: false,
      lastRunAt: null,
      lastTaskId: null,
    });
    expect(Date.parse(s.nextRunAt as string) - Date.parse(s.createdAt)).toBe(HOUR);
    const j = await jobScheduler(s.id);
    expect(j).toMatchObject({ every: HOUR, next: Date.parse(s.nextRunAt as string) });
    expect(await expectJson<Schedule>(await stack.request("GET", `/v1/schedules/${s.id}`), 200)).toEqual(s);
  });

  test("a 6-field cron (seconds first) ticks on the second it names", async () => {
    const s = await createSchedule(stack, {
      name: "at :15",
      cron: "15 * * * * *",
      task: { type: "echo", payload: {} },
    });
    expect(s).toMatchObject({ cron: "15 * * * * *", everyMs: null });
    const next = new Date(s.nextRunAt as string);
    expect(next.getUTCSeconds()).toBe(15);
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    expect(next.getTime()).toBeGreaterThan(Date.now() - 1000);
    expect(await jobScheduler(s.id)).toMatchObject({ pattern: "15 * * * * *", tz: "UTC", next: next.getTime() });
  });

  test("a cron in a time zone: nextRunAt is that zone's wall-clock time", async () => {
    const kolkata = await createSchedule(stack, {
      name: "morning in Kolkata",
      cron: "30 9 * * *",
      timezone: "Asia/Kolkata",
      task: { type: "echo", payload: {} },
    });
    expect(kolkata.timezone).toBe("Asia/Kolkata");
    expect(wallClock(kolkata.nextRunAt as string, "Asia/Kolkata")).toBe("09:30:00");
    // India has no daylight saving time: 09:30 there is always 04:00 UTC.
    expect((kolkata.nextRunAt as string).slice(11)).toBe("04:00:00.000Z");
    const ny = await createSchedule(stack, {
      name: "morning in New York",
      cron: "0 9 * * 1-5",
      timezone: "America/New_York",
      task: { type: "echo", payload: {} },
    });
    expect(wallClock(ny.nextRunAt as string, "America/New_York")).toBe("09:00:00");
    expect(["13:00:00.000Z", "14:00:00.000Z"]).toContain((ny.nextRunAt as string).slice(11));
    const weekday = new Intl.DateTimeFormat("en-US", { timeZone: "America/New_York", weekday: "short" }).format(
      new Date(ny.nextRunAt as string),
    );
    expect(["Mon", "Tue", "Wed", "Thu", "Fri"]).toContain(weekday);
    expect(await jobScheduler(ny.id)).toMatchObject({
      tz: "America/New_York",
      next: Date.parse(ny.nextRunAt as string),
    });
  });

  test("bad input is a 400 with details, and nothing is kept", async () => {
    const before = (await expectJson<{ schedules: Schedule[] }>(await stack.request("GET", "/v1/schedules"), 200))
      .schedules.length;
    const task = { type: "echo", payload: {} };
    const cases: [Record<string, unknown>, (string | number)[], string][] = [
      [{ name: "x", cron: "61 * * * *", task }, ["cron"], "invalid_cron"],
      [{ name: "x", cron: "* * * * * * *", task }, ["cron"], "invalid_cron"],
      [{ name: "x", cron: "* * * *", task }, ["cron"], "invalid_cron"],
      [{ name: "x", cron: "@daily", task }, ["cron"], "invalid_cron"],
      [{ name: "x", cron: "0 0 30 2 *", task }, ["cron"], "invalid_cron"],
      [{ name: "x", cron: "0 9 * * *", timezone: "Mars/Olympus_Mons", task }, ["timezone"], "invalid_timezone"],
      [{ name: "x", everyMs: 999, task }, ["everyMs"], "too_small"],
      [{ name: "x", everyMs: 1500.5, task }, ["everyMs"], "invalid_type"],
      [{ name: "x", everyMs: 5000, cron: "* * * * *", task }, ["cron"], "invalid_combination"],
      [{ name: "x", task }, ["cron"], "invalid_combination"],
      [{ name: "x", everyMs: 5000, task: { type: "nope", payload: {} } }, ["task", "type"], "unknown_task_type"],
      [
        { name: "x", everyMs: 5000, task: { type: "sleep", payload: { ms: -1 } } },
        ["task", "payload", "ms"],
        "too_small",
      ],
      [
        { name: "x", everyMs: 5000, task: { type: "echo", payload: { s: "a\u0000b" } } },
        ["task", "payload", "s"],
        "invalid_string",
      ],
      [{ name: "", everyMs: 5000, task }, ["name"], "too_small"],
      [{ name: "x", everyMs: 5000, task, extra: 1 }, [], "unrecognized_keys"],
      [{ name: "x", everyMs: 5000, task: { ...task, delayMs: 5 } }, ["task"], "unrecognized_keys"],
    ];
    for (const [body, path, code] of cases) {
      const res = await stack.request("POST", "/v1/schedules", body);
      const err = await expectError(res, 400, "validation_failed");
      expect({ body, details: err.error.details.map((d) => ({ path: d.path, code: d.code })) }).toEqual({
        body,
        details: expect.arrayContaining([{ path, code }]),
      });
    }
    const after = (await expectJson<{ schedules: Schedule[] }>(await stack.request("GET", "/v1/schedules"), 200))
      .schedules.length;
    expect(after).toBe(before);

    const s = await createSchedule(stack, { name: "to patch badly", everyMs: HOUR, task });
    await expectError(
      await stack.request("PATCH", `/v1/schedules/${s.id}`, { cron: "not a cron" }),
      400,
      "validation_failed",
    );
    await expectError(
      await stack.request("PATCH", `/v1/schedules/${s.id}`, { everyMs: null }),
      400,
      "validation_failed",
    );
    await expectError(await stack.request("PATCH", `/v1/schedules/${s.id}`, {}), 400, "validation_failed");
    const bad = await expectError(
      await stack.request("PATCH", `/v1/schedules/${s.id}`, { task: { type: "nope", payload: {} } }),
      400,
      "validation_failed",
    );
    expect(bad.error.details).toContainEqual(
      expect.objectContaining({ path: ["task", "type"], code: "unknown_task_type" }),
    );
    expect(await expectJson<Schedule>(await stack.request("GET", `/v1/schedules/${s.id}`), 200)).toEqual(s);
  });

  test("pause clears nextRunAt and the job scheduler; resume brings both back in the same phase", async () => {
    const s = await createSchedule(stack, { name: "pausable", everyMs: 7_000, task: { type: "echo", payload: {} } });
    const paused = await expectJson<Schedule>(await stack.request("POST", `/v1/schedules/${s.id}/pause`), 200);
    expect(paused).toMatchObject({ id: s.id, paused: true, nextRunAt: null });
    expect(await jobScheduler(s.id)).toBeNull();
    await Bun.sleep(50);
    const resumed = await expectJson<Schedule>(await stack.request("POST", `/v1/schedules/${s.id}/resume`), 200);
    expect(resumed.paused).toBe(false);
    const next = Date.parse(resumed.nextRunAt as string);
    expect(next).toBeGreaterThan(Date.now());
    expect((next - Date.parse(s.createdAt)) % 7_000).toBe(0);
    expect(await jobScheduler(s.id)).toMatchObject({ every: 7_000, next });
    // A schedule made paused has no job scheduler until resumed.
    const born = await createSchedule(stack, {
      name: "born paused",
      everyMs: HOUR,
      paused: true,
      task: { type: "echo", payload: {} },
    });
    expect(born).toMatchObject({ paused: true, nextRunAt: null });
    expect(await jobScheduler(born.id)).toBeNull();
  });

  test("trigger runs it now: 202 Task with scheduleId, lastRunAt and lastTaskId set, the ticks left as they were", async () => {
    const s = await createSchedule(stack, {
      name: "triggered",
      everyMs: HOUR,
      task: { type: "echo", payload: { t: 1 }, priority: "high" },
    });
    const before = await jobScheduler(s.id);
    const task = await expectJson<Task>(await stack.request("POST", `/v1/schedules/${s.id}/trigger`), 202);
    expect(task).toMatchObject({
      scheduleId: s.id,
      type: "echo",
      payload: { t: 1 },
      priority: "high",
      status: "queued",
    });
    const after = await expectJson<Schedule>(await stack.request("GET", `/v1/schedules/${s.id}`), 200);
    expect(after.lastTaskId).toBe(task.id);
    expect(Math.abs(Date.parse(after.lastRunAt as string) - Date.parse(task.createdAt))).toBeLessThan(1000);
    expect(after.nextRunAt).toBe(s.nextRunAt);
    expect(await jobScheduler(s.id)).toMatchObject({ every: HOUR, next: before?.next });
    // Runs are ordinary tasks: listed by scheduleId, and only this schedule's.
    await stack.request("POST", "/v1/tasks", { type: "echo", payload: { unrelated: true } });
    const second = await expectJson<Task>(await stack.request("POST", `/v1/schedules/${s.id}/trigger`), 202);
    const list = await expectJson<{ tasks: Task[] }>(await stack.request("GET", `/v1/tasks?scheduleId=${s.id}`), 200);
    expect(list.tasks.map((t) => t.id)).toEqual([second.id, task.id]);
    await expectError(await stack.request("GET", "/v1/tasks?scheduleId=not-a-uuid"), 400, "validation_failed");
    // A paused schedule may still be triggered.
    await stack.request("POST", `/v1/schedules/${s.id}/pause`);
    const third = await expectJson<Task>(await stack.request("POST", `/v1/schedules/${s.id}/trigger`), 202);
    expect((await runsOf(stack, s.id)).map((r) => r.id).sort()).toEqual([task.id, second.id, third.id].sort());
  });

  test("PATCH switches between everyMs and cron, and Redis follows", async () => {
    const s = await createSchedule(stack, { name: "switch", everyMs: HOUR, task: { type: "echo", payload: {} } });
    const toCron = await expectJson<Schedule>(
      await stack.request("PATCH", `/v1/schedules/${s.id}`, { cron: "0 0 * * *", name: "midnight" }),
      200,
    );
    expect(toCron).toMatchObject({ name: "midnight", cron: "0 0 * * *", everyMs: null, createdAt: s.createdAt });
    expect((toCron.nextRunAt as string).slice(11)).toBe("00:00:00.000Z");
    expect(await jobScheduler(s.id)).toMatchObject({ pattern: "0 0 * * *" });
    const toEvery = await expectJson<Schedule>(
      await stack.request("PATCH", `/v1/schedules/${s.id}`, {
        everyMs: 90_000,
        task: { type: "sleep", payload: { ms: 1 } },
      }),
      200,
    );
    expect(toEvery).toMatchObject({ cron: null, everyMs: 90_000, task: { type: "sleep", payload: { ms: 1 } } });
    const next = Date.parse(toEvery.nextRunAt as string);
    expect(next - Date.now()).toBeGreaterThan(85_000);
    expect(next - Date.now()).toBeLessThanOrEqual(90_000);
    const j = await jobScheduler(s.id);
    expect(j).toMatchObject({ every: 90_000, next });
    expect(j?.pattern).toBeUndefined();
  });

  test("delete: 204, then 404, the job scheduler is gone and its runs stay", async () => {
    const s = await createSchedule(stack, { name: "doomed", everyMs: HOUR, task: { type: "echo", payload: {} } });
    const run = await expectJson<Task>(await stack.request("POST", `/v1/schedules/${s.id}/trigger`), 202);
    const res = await stack.request("DELETE", `/v1/schedules/${s.id}`);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    await expectError(await stack.request("GET", `/v1/schedules/${s.id}`), 404, "not_found");
    await expectError(await stack.request("DELETE", `/v1/schedules/${s.id}`), 404, "not_found");
    await expectError(await stack.request("POST", `/v1/schedules/${s.id}/trigger`), 404, "not_found");
    expect(await jobScheduler(s.id)).toBeNull();
    expect((await expectJson<Task>(await stack.request("GET", `/v1/tasks/${run.id}`), 200)).scheduleId).toBe(s.id);
    await expectError(await stack.request("GET", "/v1/schedules/not-a-uuid"), 404, "not_found");
  });

  test("tenants: another tenant's schedule is 404 for every route; a read-only key cannot change one", async () => {
    const mine = await createSchedule(
      stack,
      { name: "tenant a's", everyMs: HOUR, task: { type: "echo", payload: {} } },
      writerA,
    );
    const theirs = await createSchedule(
      stack,
      { name: "tenant b's", everyMs: HOUR, task: { type: "echo", payload: {} } },
      writerB,
    );
    for (const [method, suffix, body] of [
      ["GET", "", undefined],
      ["PATCH", "", { name: "stolen" }],
      ["DELETE", "", undefined],
      ["POST", "/pause", undefined],
      ["POST", "/resume", undefined],
      ["POST", "/trigger", undefined],
    ] as const) {
      await expectError(
        await stack.request(method, `/v1/schedules/${mine.id}${suffix}`, body, writerB),
        404,
        "not_found",
      );
    }
    const listB = await expectJson<{ schedules: Schedule[] }>(
      await stack.request("GET", "/v1/schedules", undefined, writerB),
      200,
    );
    expect(listB.schedules.map((s) => s.id)).toEqual([theirs.id]);
    const listA = await expectJson<{ schedules: Schedule[] }>(
      await stack.request("GET", "/v1/schedules", undefined, readerA),
      200,
    );
    expect(listA.schedules.map((s) => s.id)).toEqual([mine.id]);
    expect(
      (await expectJson<Schedule>(await stack.request("GET", `/v1/schedules/${mine.id}`, undefined, readerA), 200))
        .name,
    ).toBe("tenant a's");
    await expectError(
      await stack.request(
        "POST",
        "/v1/schedules",
        { name: "r", everyMs: HOUR, task: { type: "echo", payload: {} } },
        readerA,
      ),
      403,
      "forbidden",
    );
    for (const [method, suffix] of [
      ["POST", "/pause"],
      ["POST", "/trigger"],
      ["DELETE", ""],
    ] as const) {
      await expectError(
        await stack.request(method, `/v1/schedules/${mine.id}${suffix}`, undefined, readerA),
        403,
        "forbidden",
      );
    }
    await expectError(await stack.request("GET", "/v1/schedules", undefined, null), 401, "unauthorized");
    // The run of a tenant's schedule is that tenant's task.
    const run = await expectJson<Task>(
      await stack.request("POST", `/v1/schedules/${mine.id}/trigger`, undefined, writerA),
      202,
    );
    expect(run.tenant).toBe("tenant-a");
    await expectError(await stack.request("GET", `/v1/tasks/${run.id}`, undefined, writerB), 404, "not_found");
    const runsB = await expectJson<{ tasks: Task[] }>(
      await stack.request("GET", `/v1/tasks?scheduleId=${mine.id}`, undefined, writerB),
      200,
    );
    expect(runsB.tasks).toEqual([]);
    // The admin sees every tenant's.
    const all = await expectJson<{ schedules: Schedule[] }>(await stack.request("GET", "/v1/schedules"), 200);
    expect(all.schedules.map((s) => s.id)).toEqual(expect.arrayContaining([mine.id, theirs.id]));
  });

  test("every change is in the audit log", async () => {
    const s = await createSchedule(stack, { name: "audited", everyMs: HOUR, task: { type: "echo", payload: {} } });
    await stack.request("PATCH", `/v1/schedules/${s.id}`, { name: "audited 2" });
    await stack.request("POST", `/v1/schedules/${s.id}/pause`);
    await stack.request("POST", `/v1/schedules/${s.id}/resume`);
    await stack.request("POST", `/v1/schedules/${s.id}/trigger`);
    await stack.request("DELETE", `/v1/schedules/${s.id}`);
    const { entries } = await expectJson<{ entries: { action: string; target: string | null }[] }>(
      await stack.request("GET", "/v1/audit?limit=500"),
      200,
    );
    const actions = entries.filter((e) => e.target === s.id).map((e) => e.action);
    expect(actions.reverse()).toEqual([
      "schedule.create",
      "schedule.update",
      "schedule.pause",
      "schedule.resume",
      "schedule.trigger",
      "schedule.delete",
    ]);
  });
});
