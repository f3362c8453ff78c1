/**
 * `bun run start:workers`: a supervisor keeping between WORKERS_MIN and WORKERS_MAX worker
 * processes (`bun apps/worker/src/index.ts`, WORKER_PORT=0) as the scaling signal asks (the same
 * computation as `GET /v1/scaling`, read in process: no API key needed). A worker that dies is
 * replaced after a backoff; extra ones are stopped with SIGTERM and drain; SIGTERM or SIGINT to
 * the supervisor is passed on to every worker, and it exits 0 once they all have.
 *
 * Tuning knobs read only here (docs/operations.md): WORKERS_INTERVAL_MS,
 * WORKERS_SCALE_DOWN_DELAY_MS, WORKERS_RESTART_BACKOFF_MS, WORKERS_ARRIVAL_WINDOW_MS.
 */

import { hostname } from "node:os";
import { createLogger, dataDir, parseEnv, parseEnvWith, projectRoot } from "@conveyor/core";
import { createDb, Ledger, NodeRegistry } from "@conveyor/db";
import { computeScaling, resolveServices, ScalingService } from "@conveyor/scheduler";
import { z } from "zod";
import { appEnv } from "./app-env.ts";
import { type ScalingReading, type WorkerChild, WorkerSupervisor } from "./worker-supervisor.ts";

/** A whole number of ms, at least `min`. */
const wholeMs = (min: number) =>
  z.coerce.number().int("expected a whole number of ms").min(min, `expected a whole number of ms, at least ${min}`);

/** The supervisor's own variables (docs/operations.md), beside the contract's. */
const SupervisorEnv = z.object({
  WORKERS_INTERVAL_MS: wholeMs(100).default(5000),
  WORKERS_SCALE_DOWN_DELAY_MS: wholeMs(0).default(60_000),
  WORKERS_RESTART_BACKOFF_MS: wholeMs(10).default(1000),
  WORKERS_ARRIVAL_WINDOW_MS: wholeMs(1000).optional(),
});

/** The supervisor's own settings, parsed with zod as the rest of the environment is. */
export function supervisorSettings(source: Record<string, string | undefined> = process.env) {
  const env = parseEnvWith(SupervisorEnv, source);
  return {
    intervalMs: env.WORKERS_INTERVAL_MS,
    scaleDownDelayMs: env.WORKERS_SCALE_DOWN_DELAY_MS,
    restartBackoffMs: env.WORKERS_RESTART_BACKOFF_MS,
    arrivalWindowMs: env.WORKERS_ARRIVAL_WINDOW_MS,
  };
}

if (import.meta.main) await main();

async function main(): Promise<void> {
  const env = parseEnv();
  const settings = supervisorSettings();
  const log = createLogger("workers", env.LOG_LEVEL);
  const root = projectRoot();

  // PostgreSQL and Redis are found (or started) once, migrations run once: the workers are told
  // where. Beside a running `bun run dev`/`start`, that is its stack.
  const services = await resolveServices(env, log, dataDir(env, root));
  const pg = createDb(services.databaseUrl, { max: 2, appName: "conveyor-workers" });
  const nodes = new NodeRegistry(pg);
  const scaling = new ScalingService(
    { ledger: new Ledger(pg), nodes },
    { targetDrainSeconds: env.SCALING_TARGET_DRAIN_S, arrivalWindowMs: settings.arrivalWindowMs },
  );

  const childEnv = appEnv(services, { WORKER_PORT: "0" });

  const host = hostname();
  const supervisor = new WorkerSupervisor({
    min: env.WORKERS_MIN,
    max: env.WORKERS_MAX,
    intervalMs: settings.intervalMs,
    scaleDownDelayMs: settings.scaleDownDelayMs,
    restartBackoffMs: settings.restartBackoffMs,
    killAfterMs: env.SHUTDOWN_GRACE_MS + 10_000,
    log,
    spawn(): WorkerChild {
      const child = Bun.spawn([process.execPath, "apps/worker/src/index.ts"], {
        cwd: root,
        env: childEnv,
        stdin: "ignore",
        stdout: "inherit",
        stderr: "inherit",
      });
      return {
        pid: child.pid,
        exited: child.exited.then(() => child.exitCode),
        signalCode: () => (child.signalCode === null ? null : String(child.signalCode)),
        kill: (signal) => child.kill(signal),
      };
    },
    async read({ spawned, running }): Promise<ScalingReading> {
      const { inputs, nodes: list } = await scaling.measure();
      let otherNodes = 0;
      let gone = 0;
      const activeByPid = new Map<number, number>();
      for (const n of list) {
        if (n.status !== "up") continue;
        if (n.host !== host || !spawned.has(n.pid)) otherNodes++;
        else if (running.has(n.pid)) activeByPid.set(n.pid, n.active);
        // A worker of ours that died is listed up for 15 s more: it is no node, and counting it
        // would ask for one more worker on every read until it is lost.
        else gone++;
      }
      const signal = computeScaling({ ...inputs, activeNodes: Math.max(0, inputs.activeNodes - gone) });
      return {
        desiredNodes: signal.desiredNodes,
        backlog: signal.backlog,
        activeNodes: signal.activeNodes,
        otherNodes,
        activeByPid,
      };
    },
  });

  log.info(
    { min: env.WORKERS_MIN, max: env.WORKERS_MAX, targetDrainS: env.SCALING_TARGET_DRAIN_S, ...settings },
    "worker supervisor started",
  );
  supervisor.start();

  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, async () => {
      if (stopping) return;
      stopping = true;
      await supervisor.shutdown(sig);
      await pg.close().catch(() => {});
      await services.stop();
      log.info("worker supervisor stopped");
      process.exit(0);
    });
  }
}
