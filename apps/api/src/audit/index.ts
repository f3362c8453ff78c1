import { type Logger, type Principal, UnavailableError } from "@conveyor/core";
import { type AuditEntry, type AuditLog, orUnavailable } from "@conveyor/db";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { type AuthVars, requireScope } from "../auth/index.ts";
import { validate } from "../validate/index.ts";

/** Where an entry's target comes from: a path parameter, or a field of the JSON answer (a new id). */
type TargetFrom = { param: string } | { answer: string } | null;

/**
 * The audited routes: `METHOD routePath` → action and target. Task submission is left out on
 * purpose (the contract's audit log is "every mutation except task submission"; the ledger
 * already records every task and its tenant). A mutation missing here is still recorded, under
 * its method and route, so a new route cannot slip out of the log unnoticed.
 */
const ACTIONS: Record<string, { action: string; target: TargetFrom } | "skip"> = {
  "POST /v1/tasks": "skip",
  "POST /v1/tasks/batch": "skip",
  "POST /v1/tasks/:id/cancel": { action: "task.cancel", target: { param: "id" } },
  "POST /v1/tasks/:id/retry": { action: "task.retry", target: { param: "id" } },
  "POST /v1/tasks/retry": { action: "tasks.retry", target: null },
  "POST /v1/queues/:type/pause": { action: "queue.pause", target: { param: "type" } },
  "POST /v1/queues/:type/resume": { action: "queue.resume", target: { param: "type" } },
  "PATCH /v1/queues/:type": { action: "queue.limits", target: { param: "type" } },
  "POST /v1/keys": { action: "key.create", target: { answer: "id" } },
  "DELETE /v1/keys/:id": { action: "key.revoke", target: { param: "id" } },
  // A login makes a session row tied to the key: recorded (with the key's id) when the route
  // has set the principal it logged in as; a failed login is a 401 and never reaches here.
  "POST /v1/sessions": { action: "session.create", target: null },
  "DELETE /v1/sessions/current": { action: "session.delete", target: null },
  "POST /v1/schedules": { action: "schedule.create", target: { answer: "id" } },
  "PATCH /v1/schedules/:id": { action: "schedule.update", target: { param: "id" } },
  "DELETE /v1/schedules/:id": { action: "schedule.delete", target: { param: "id" } },
  "POST /v1/schedules/:id/pause": { action: "schedule.pause", target: { param: "id" } },
  "POST /v1/schedules/:id/resume": { action: "schedule.resume", target: { param: "id" } },
  "POST /v1/schedules/:id/trigger": { action: "schedule.trigger", target: { param: "id" } },
};

const READS = new Set(["GET", "HEAD", "OPTIONS"]);

async function targetOf(c: Context, from: TargetFrom): Promise<string | null> {
  if (from === null) return null;
  if ("param" in from) return c.req.param(from.param) ?? null;
  // Only the named field is kept (a new key's answer also holds its secret, which is not).
  const answer = (await c.res
    .clone()
    .json()
    .catch(() => null)) as Record<string, unknown> | null;
  const value = answer?.[from.answer];
  return typeof value === "string" || typeof value === "number" ? String(value) : null;
}

/** The entry for a request that succeeded, or null when it is not audited. */
async function entryFor(c: Context<{ Variables: AuthVars }>): Promise<AuditEntry | null> {
  const route = `${c.req.method} ${c.req.routePath}`;
  const known = ACTIONS[route];
  if (known === "skip") return null;
  const principal = c.get("principal") as Principal | undefined;
  if (!principal) return null;
  const spec = known ?? {
    action: route,
    target: Object.keys(c.req.param()).length ? { param: Object.keys(c.req.param())[0] as string } : null,
  };
  return {
    keyId: principal.keyId,
    tenant: principal.tenant,
    action: spec.action,
    target: await targetOf(c, spec.target),
  };
}

/**
 * Records every successful (2xx) change under `/v1` but task submission: who did it (key,
 * tenant), what, and on what. Written before the answer leaves, so a client that saw success can
 * find the entry; a failed write is logged and never fails the change, which is already done.
 */
export function auditTrail(audit: AuditLog | undefined, log: Logger): MiddlewareHandler<{ Variables: AuthVars }> {
  return async (c, next) => {
    await next();
    if (!audit || READS.has(c.req.method) || c.res.status < 200 || c.res.status >= 300) return;
    let entry: AuditEntry | null = null;
    try {
      entry = await entryFor(c);
      if (entry) await audit.record(entry);
    } catch (err) {
      log.error(
        { err: err instanceof Error ? err.message : String(err), action: entry?.action, target: entry?.target },
        "audit entry not recorded",
      );
    }
  };
}

/** The query of `GET /v1/audit`. */
export const AuditQuery = z.strictObject({
  since: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(s))
    .optional()
    .describe("Only entries at or after this time (ISO 8601)"),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z
    .string()
    .regex(/^[1-9]\d{0,14}$/, "expected the nextCursor of a previous page")
    .transform(Number)
    .optional()
    .describe("The `nextCursor` of the previous page"),
});

/** `GET /v1/audit` (admin): the audit trail, newest first. */
export function auditRoutes(audit: AuditLog | undefined) {
  const app = new Hono<{ Variables: AuthVars }>();
  app.get("/", requireScope("admin"), validate("query", AuditQuery), async (c) => {
    if (!audit) throw new UnavailableError("this process keeps no audit log");
    const { rows, nextCursor } = await orUnavailable("list", () => audit.list(c.req.valid("query")));
    return c.json({
      entries: rows.map((r) => ({
        at: r.at.toISOString(),
        keyId: r.keyId,
        tenant: r.tenant,
        action: r.action,
        target: r.target,
      })),
      nextCursor,
    });
  });
  return app;
}
