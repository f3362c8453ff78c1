import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

const port = z.coerce.number().int().min(0).max(65535);

/** `a, b,,c` -> ["a", "b", "c"]: a comma list with blanks ignored. */
const commaList = () =>
  z
    .string()
    .default("")
    .transform((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    );

/** The one description of Conveyor's environment (../CONTRACT.md, "Environment"). */
export const Env = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    REDIS_URL: z.string().url().optional(),
    REDIS_CLUSTER_NODES: commaList().pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, "expected host:port"))),
    DATABASE_URL: z.string().url().optional(),
    /** Where local state lives: embedded PostgreSQL, a spawned Redis, the generated admin key. */
    DATA_DIR: z.string().min(1).optional(),
    MIGRATION_DATABASE_URL: z.string().url().optional(),
    MIGRATE_ON_START: bool.default(true),
    API_PORT: port.default(3000),
    MONITOR_PORT: port.default(3001),
    WORKER_PORT: port.default(3002),
    API_URL: z.string().url().optional(),
    ADMIN_API_KEY: z.string().min(16, "ADMIN_API_KEY must be at least 16 characters").optional(),
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, "letters, digits, '-' and '_' only")
      .default("conveyor"),
    WORKER_TYPES: commaList(),
    WORKER_CONCURRENCY: z.string().default(""),
    SSRF_ALLOW_HOSTS: commaList(),
    RECONCILE_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
    JOB_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
    SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
    WORKERS_MIN: z.coerce.number().int().min(0).default(1),
    WORKERS_MAX: z.coerce
      .number()
      .int()
      .min(1)
      .default(cpus().length || 1),
    SCALING_TARGET_DRAIN_S: z.coerce.number().positive().default(60),
    MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
    TASK_RETENTION_DAYS: z.coerce.number().positive().default(30),
    METRICS_RETENTION_DAYS: z.coerce.number().positive().default(30),
    /** Origins allowed to call the API from a browser with credentials; empty: no cross-origin access. */
    CORS_ORIGINS: commaList().pipe(
      z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, "expected origins like https://app.example.com")),
    ),
    METRICS_ENABLED: bool.default(true),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === "production" && !env.ADMIN_API_KEY) {
      ctx.addIssue({
        code: "custom",
        path: ["ADMIN_API_KEY"],
        message: "ADMIN_API_KEY is required when NODE_ENV=production",
      });
    }
    if (env.WORKERS_MIN > env.WORKERS_MAX) {
      ctx.addIssue({ code: "custom", path: ["WORKERS_MIN"], message: "WORKERS_MIN is above WORKERS_MAX" });
    }
  });

export type Env = z.infer<typeof Env>;

/** Thrown when the environment does not parse; its message lists every bad variable. */
export class EnvError extends Error {
  override name = "EnvError";
}

/** The folder of local state: `DATA_DIR`, else `<checkout>/.data`. */
export function dataDir(env: Env, root: string): string {
  return env.DATA_DIR ? resolve(env.DATA_DIR) : join(root, ".data");
}

/** Parses the environment once; a bad value fails at start with one line per problem. */
export function parseEnv(source: Record<string, string | undefined> = process.env): Env {
  return parseEnvWith(Env, source);
}

/**
 * Parses variables with `schema` as `parseEnv` does (an empty value counts as unset), for a
 * program that reads a few of its own beside the contract's.
 */
export function parseEnvWith<S extends z.ZodType>(
  schema: S,
  source: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(env)"}: ${i.message}`);
    throw new EnvError(`invalid environment:\n${lines.join("\n")}`);
  }
  return result.data;
}
