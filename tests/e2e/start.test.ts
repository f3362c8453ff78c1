import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { projectRoot } from "@conveyor/core";
import { childEnv, deletePrefix, eventually, testPrefix, testServices } from "../harness/index.ts";

// `bun run start` as a new user runs it: no DATABASE_URL, so an embedded PostgreSQL.
describe("bun run start without DATABASE_URL", () => {
  const root = projectRoot();
  const prefix = testPrefix("start");
  const adminKey = `start-test-key-${crypto.randomUUID()}`;
  let proc: ReturnType<typeof Bun.spawn> | undefined;

  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(20_000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
    await deletePrefix(prefix);
  });

  test(
    "becomes ready on embedded PostgreSQL and completes an echo task",
    async () => {
      const { redisUrl } = await testServices();
      const env = childEnv(
        {
          REDIS_URL: redisUrl,
          DATA_DIR: join(root, ".data", "test-start"),
          API_PORT: "0",
          WORKER_PORT: "0",
          ADMIN_API_KEY: adminKey,
          QUEUE_PREFIX: prefix,
          LOG_LEVEL: "warn",
          SHUTDOWN_GRACE_MS: "1000",
        },
        ["DATABASE_URL"],
      );
      proc = Bun.spawn(["bun", "scripts/run.ts"], { cwd: root, env, stdout: "pipe", stderr: "inherit" });

      let out = "";
      const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      const apiUrl = await eventually(
        async () => {
          const { value, done } = await reader.read();
          if (done) throw new Error(`exited before it was ready; it printed:\n${out}`);
          out += decoder.decode(value);
          return /API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
        },
        { timeoutMs: 90_000, intervalMs: 0, what: "the start banner" },
      );
      reader.releaseLock();
      expect(out).not.toContain(adminKey); // a key given in ADMIN_API_KEY is never printed

      const auth = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
      const submitted = await fetch(`${apiUrl}/v1/tasks`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ type: "echo", payload: { from: "start" } }),
      });
      expect(submitted.status).toBe(202);
      const { id } = (await submitted.json()) as { id: string };
      const done = await eventually(
        async () => {
          const t = (await (await fetch(`${apiUrl}/v1/tasks/${id}`, { headers: auth })).json()) as {
            status: string;
            result: unknown;
          };
          return t.status === "completed" ? t : undefined;
        },
        { timeoutMs: 20_000, what: "the echo task to complete" },
      );
      expect(done.result).toEqual({ from: "start" });

      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    },
    { timeout: 150_000 },
  );
});
