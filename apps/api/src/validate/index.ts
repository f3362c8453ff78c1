import { ValidationError } from "@conveyor/core";
import { issueDetails } from "@conveyor/scheduler";
import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import type { z } from "zod";

/** `zValidator` whose failures are the contract's `validation_failed` with a detail per issue. */
export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      const where = target === "json" ? "body" : target;
      throw new ValidationError(`the request ${where} is not valid`, issueDetails(result.error.issues, []));
    }
  });
}
