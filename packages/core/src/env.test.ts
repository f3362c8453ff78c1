import { describe, expect, test } from "bun:test";
import { cpus } from "node:os";
import { EnvError, parseEnv } from "./env.ts";

/** The EnvError a source throws (fails the test when it parses). */
function envError(source: Record<string, string | undefined>): EnvError {
  try {
    parseEnv(source);
  } catch (err) {
    expect(err).toBeInstanceOf(EnvError);
    return err as EnvError;
  }
  throw new Error("expected parseEnv to throw");
}

describe("parseEnv", () => {
  test("an empty environment gives the contract's defaults", () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      NODE_ENV: "development",
      REDIS_CLUSTER_NODES: [],
      MIGRATE_ON_START: true,
      API_PORT: 3000,
      MONITOR_PORT: 3001,
      WORKER_PORT: 3002,
      QUEUE_PREFIX: "conveyor",
      WORKER_TYPES: [],
      WORKER_CONCURRENCY: "",
      SSRF_ALLOW_HOSTS: [],
      RECONCILE_INTERVAL_MS: 10_000,
      JOB_LOCK_MS: 30_000,
      SHUTDOWN_GRACE_MS: 30_000,
      WORKERS_MIN: 1,
      WORKERS_MAX: cpus().length || 1,
      SCALING_TARGET_DRAIN_S: 60,
      MAX_BODY_BYTES: 1_048_576,
      TASK_RETENTION_DAYS: 30,
      METRICS_RETENTION_DAYS: 30,
      CORS_ORIGINS: [],
      METRICS_ENABLED: true,
      LOG_LEVEL: "info",
    });
    for (const unset of ["REDIS_URL", "DATABASE_URL", "MIGRATION_DATABASE_URL", "API_URL", "ADMIN_API_KEY"] as const) {
      expect(env[unset]).toBeUndefined();
    }
  });

  test("numbers are coerced from their text", () => {
    const env = parseEnv({
      API_PORT: "8080",
      MONITOR_PORT: "0",
      WORKER_PORT: "65535",
      MAX_BODY_BYTES: "2048",
      JOB_LOCK_MS: "5000",
      WORKERS_MIN: "2",
      WORKERS_MAX: "8",
      SCALING_TARGET_DRAIN_S: "0.5",
    });
    expect(env.API_PORT).toBe(8080);
    expect(env.MONITOR_PORT).toBe(0);
    expect(env.WORKER_PORT).toBe(65535);
    expect(env.MAX_BODY_BYTES).toBe(2048);
    expect(env.JOB_LOCK_MS).toBe(5000);
    expect(env.WORKERS_MIN).toBe(2);
    expect(env.WORKERS_MAX).toBe(8);
    expect(env.SCALING_TARGET_DRAIN_S).toBe(0.5);
  });

  test("booleans accept true/false, 1/0 and yes/no", () => {
    for (const [text, value] of [
      ["true", true],
      ["1", true],
      ["yes", true],
      ["false", false],
      ["0", false],
      ["no", false],
    ] as const) {
      expect(parseEnv({ MIGRATE_ON_START: text }).MIGRATE_ON_START).toBe(value);
      expect(parseEnv({ METRICS_ENABLED: text }).METRICS_ENABLED).toBe(value);
    }
  });

  test("bad values give one EnvError naming every bad variable", () => {
    const err = envError({
      API_PORT: "eighty",
      WORKER_PORT: "70000",
      METRICS_ENABLED: "maybe",
      LOG_LEVEL: "loud",
      REDIS_URL: "not a url",
      QUEUE_PREFIX: "has space",
      MAX_BODY_BYTES: "12",
      API_URL: "http://127.0.0.1:3000",
    });
    expect(err.name).toBe("EnvError");
    for (const name of [
      "API_PORT",
      "WORKER_PORT",
      "METRICS_ENABLED",
      "LOG_LEVEL",
      "REDIS_URL",
      "QUEUE_PREFIX",
      "MAX_BODY_BYTES",
    ]) {
      expect(err.message).toContain(name);
    }
    // A good variable is not blamed.
    expect(err.message).not.toContain("API_URL");
    // One line per problem after the heading.
    expect(err.message.split("\n").length).toBe(1 + 7);
  });

  test("a fractional port or a negative duration is refused", () => {
    expect(envError({ API_PORT: "80.5" }).message).toContain("API_PORT");
    expect(envError({ SHUTDOWN_GRACE_MS: "-1" }).message).toContain("SHUTDOWN_GRACE_MS");
  });

  test("NODE_ENV=production requires ADMIN_API_KEY", () => {
    const err = envError({ NODE_ENV: "production" });
    expect(err.message).toContain("ADMIN_API_KEY");
    expect(envError({ NODE_ENV: "production", ADMIN_API_KEY: "" }).message).toContain("ADMIN_API_KEY");
    const env = parseEnv({ NODE_ENV: "production", ADMIN_API_KEY: "a-long-enough-admin-key" });
    expect(env.ADMIN_API_KEY).toBe("a-long-enough-admin-key");
    // Outside production the key may be left out (it is generated).
    expect(parseEnv({ NODE_ENV: "development" }).ADMIN_API_KEY).toBeUndefined();
  });

  test("a too-short ADMIN_API_KEY is refused", () => {
    expect(envError({ ADMIN_API_KEY: "short" }).message).toContain("ADMIN_API_KEY");
  });

  test("WORKERS_MIN above WORKERS_MAX is refused", () => {
    expect(envError({ WORKERS_MIN: "5", WORKERS_MAX: "2" }).message).toContain("WORKERS_MIN");
  });

  test("SSRF_ALLOW_HOSTS is a comma list of host names, blanks ignored", () => {
    expect(parseEnv({ SSRF_ALLOW_HOSTS: " intranet.local, ,api.internal " }).SSRF_ALLOW_HOSTS).toEqual([
      "intranet.local",
      "api.internal",
    ]);
  });

  test("REDIS_CLUSTER_NODES is a comma list of host:port, blanks ignored", () => {
    expect(parseEnv({ REDIS_CLUSTER_NODES: "10.0.0.1:7000" }).REDIS_CLUSTER_NODES).toEqual(["10.0.0.1:7000"]);
    expect(
      parseEnv({ REDIS_CLUSTER_NODES: " redis-a:7000 , redis-b:7001,,redis-c:7002, " }).REDIS_CLUSTER_NODES,
    ).toEqual(["redis-a:7000", "redis-b:7001", "redis-c:7002"]);
    expect(envError({ REDIS_CLUSTER_NODES: "redis-a" }).message).toContain("REDIS_CLUSTER_NODES");
    expect(envError({ REDIS_CLUSTER_NODES: "redis-a:7000,redis-b:port" }).message).toContain("REDIS_CLUSTER_NODES");
  });

  test("WORKER_TYPES is a comma list, blanks ignored", () => {
    expect(parseEnv({ WORKER_TYPES: "echo, sleep,," }).WORKER_TYPES).toEqual(["echo", "sleep"]);
  });

  test("empty strings are treated as unset", () => {
    const env = parseEnv({
      API_PORT: "",
      REDIS_URL: "",
      DATABASE_URL: "",
      ADMIN_API_KEY: "",
      METRICS_ENABLED: "",
      NODE_ENV: "",
      LOG_LEVEL: "",
      REDIS_CLUSTER_NODES: "",
      UNRELATED: undefined,
    });
    expect(env.API_PORT).toBe(3000);
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.ADMIN_API_KEY).toBeUndefined();
    expect(env.METRICS_ENABLED).toBe(true);
    expect(env.NODE_ENV).toBe("development");
    expect(env.LOG_LEVEL).toBe("info");
    expect(env.REDIS_CLUSTER_NODES).toEqual([]);
  });

  test("given URLs are kept as they are", () => {
    const env = parseEnv({
      REDIS_URL: "redis://cache:6380",
      DATABASE_URL: "postgres://app@db:5432/conveyor",
      MIGRATION_DATABASE_URL: "postgres://owner@db:5432/conveyor",
    });
    expect(env.REDIS_URL).toBe("redis://cache:6380");
    expect(env.DATABASE_URL).toBe("postgres://app@db:5432/conveyor");
    expect(env.MIGRATION_DATABASE_URL).toBe("postgres://owner@db:5432/conveyor");
  });
});
