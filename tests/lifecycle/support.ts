import { BUILT_IN_TYPES, defineTaskType, TaskCatalog, TaskFailure } from "@conveyor/handlers";
import { z } from "zod";
import { eventually, type TestStack } from "../harness/index.ts";

/** Switches the `flaky` test type between failing and succeeding. */
export const flakiness = { failing: true };

/** A task type for tests: fails while `flakiness.failing` (or when the payload asks to). */
export const flaky = defineTaskType({
  type: "flaky",
  description: "Fails while the test says so.",
  schema: z.object({ permanent: z.boolean().optional() }),
  defaults: { maxAttempts: 1, backoff: { strategy: "fixed", delayMs: 0 } },
  run: async ({ permanent }) => {
    if (permanent) throw new TaskFailure("broken_for_good", "this one never works", false);
    if (flakiness.failing) throw new Error("flaky failure");
    return { ok: true };
  },
});

export const testCatalog = () => new TaskCatalog([...BUILT_IN_TYPES, flaky]);

export type Task = {
  id: string;
  status: string;
  priority: string;
  result: unknown;
  error: { code: string; message: string } | null;
  attempts: number;
  progress: number | null;
  runAt: string | null;
  node: string | null;
};
export type Attempt = {
  n: number;
  node: string;
  outcome: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  error: { code: string } | null;
};

export async function submit(stack: TestStack, body: Record<string, unknown>): Promise<Task> {
  const res = await stack.request("POST", "/v1/tasks", body);
  if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Task;
}

export async function getTask(stack: TestStack, id: string): Promise<Task> {
  return (await (await stack.request("GET", `/v1/tasks/${id}`)).json()) as Task;
}

export async function attemptsOf(stack: TestStack, id: string): Promise<Attempt[]> {
  return ((await (await stack.request("GET", `/v1/tasks/${id}/attempts`)).json()) as { attempts: Attempt[] }).attempts;
}

export function waitStatus(stack: TestStack, id: string, status: string | string[], timeoutMs = 15_000): Promise<Task> {
  const wanted = Array.isArray(status) ? status : [status];
  return eventually(
    async () => {
      const t = await getTask(stack, id);
      return wanted.includes(t.status) ? t : undefined;
    },
    { timeoutMs, what: `task ${id} to be ${wanted.join(" or ")}` },
  );
}
