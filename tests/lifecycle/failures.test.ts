import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, type TestStack } from "../harness/index.ts";
import { flakiness, submit, testCatalog, waitStatus } from "./support.ts";

type Group = { type: string; code: string; message: string; count: number; lastAt: string; sampleTaskId: string };

describe("GET /v1/tasks/failures", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack({ label: "failures", catalog: testCatalog() });
    await stack.startNode({ types: ["flaky", "sleep"] });
  });
  afterAll(() => stack?.close());

  const groups = async (query = "") =>
    ((await (await stack.request("GET", `/v1/tasks/failures${query}`)).json()) as { groups: Group[] }).groups;

  test("groups failed tasks by type, code and message, largest first; retrying a group empties it", async () => {
    flakiness.failing = true;
    const flaky = await Promise.all([1, 2, 3].map(() => submit(stack, { type: "flaky", payload: {} })));
    const broken = await submit(stack, { type: "flaky", payload: { permanent: true } });
    const slow = await submit(stack, { type: "sleep", payload: { ms: 5000 }, timeoutMs: 50, maxAttempts: 1 });
    await Promise.all([...flaky, broken, slow].map((t) => waitStatus(stack, t.id, "failed")));

    const all = await groups();
    // Largest first; the two groups of one are ordered by their last failure, which may be either.
    expect(all[0]).toMatchObject({ type: "flaky", code: "handler_error", count: 3 });
    expect(
      all
        .slice(1)
        .map((g) => `${g.type}/${g.code}/${g.count}`)
        .sort(),
    ).toEqual(["flaky/broken_for_good/1", "sleep/timed_out/1"]);
    const first = all[0];
    expect(first?.message).toBe("flaky failure");
    expect(flaky.map((t) => t.id)).toContain(first?.sampleTaskId ?? "");
    expect((await groups("?type=sleep")).map((g) => g.code)).toEqual(["timed_out"]);

    flakiness.failing = false;
    const res = await stack.request("POST", "/v1/tasks/retry", {
      type: "flaky",
      code: "handler_error",
      message: "flaky failure",
    });
    expect(((await res.json()) as { retried: number }).retried).toBe(3);
    await Promise.all(flaky.map((t) => waitStatus(stack, t.id, "completed")));
    expect((await groups()).map((g) => g.code).sort()).toEqual(["broken_for_good", "timed_out"]);
  });
});
