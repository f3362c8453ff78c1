import { UnavailableError } from "@conveyor/core";
import type { ScalingSignal } from "@conveyor/scheduler";
import { Hono } from "hono";
import { type AuthVars, requireScope } from "../auth/index.ts";

/** Where `GET /v1/scaling` reads its figures (the scheduler's `ScalingService`). */
export interface ScalingSource {
  signal(): Promise<ScalingSignal>;
}

/** `GET /v1/scaling` (admin): the backlog and rates an autoscaler (KEDA metrics-api, `start:workers`) follows. */
export function scalingRoutes(scaling: ScalingSource | undefined) {
  const app = new Hono<{ Variables: AuthVars }>();
  app.get("/", requireScope("admin"), async (c) => {
    if (!scaling) throw new UnavailableError("the scaling signal is not configured in this process");
    return c.json(await scaling.signal());
  });
  return app;
}
