import { expect } from "bun:test";
import type { Schedule, Task } from "@conveyor/scheduler";
import type { TestStack } from "../harness/index.ts";

/** The API's shapes, as the scheduler makes them. */
export type { Schedule, Task };

export type ErrorBody = {
  error: { code: string; message: string; details: { path: (string | number)[]; code: string; message: string }[] };
};

/** Reads a JSON answer, failing with its body when the status is not the one expected. */
export async function expectJson<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Makes a schedule through the API (201), as the admin unless `key` is given. */
export async function createSchedule(stack: TestStack, body: Record<string, unknown>, key?: string): Promise<Schedule> {
  return expectJson<Schedule>(await stack.request("POST", "/v1/schedules", body, key), 201);
}

/** The runs of a schedule in the ledger, by tick time (triggered runs, with no tick, last). */
export async function runsOf(stack: TestStack, scheduleId: string) {
  return stack.runtime.pg.sql<{ id: string; scheduledFor: Date | null; status: string }[]>`
    select id, scheduled_for::text as "scheduledFor", status from tasks
     where schedule_id = ${scheduleId}::uuid order by scheduled_for nulls last, id`.then((rows) =>
    rows.map((r) => ({
      ...r,
      scheduledFor: r.scheduledFor === null ? null : new Date(r.scheduledFor as unknown as string),
    })),
  );
}

/** Checks an error answer's status, code and shape. */
export async function expectError(res: Response, status: number, code: string): Promise<ErrorBody> {
  const body = await expectJson<ErrorBody>(res, status);
  expect(body.error.code).toBe(code);
  expect(Object.keys(body.error).sort()).toEqual(["code", "details", "message"]);
  return body;
}
