import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { isConnectionError, isRetryableDbError } from "./unavailable.ts";

const pgError = (code: string) =>
  Object.assign(Object.create(postgres.PostgresError.prototype) as Error, { code, message: code });

describe("which database errors are an outage", () => {
  test("a refused connection, a server shutting down or out of resources: unavailable, retried", () => {
    for (const err of [
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      pgError("08006"),
      pgError("57P01"),
      // sorry, too many clients already; disk full; out of memory
      pgError("53300"),
      pgError("53100"),
      pgError("53200"),
    ]) {
      expect(isConnectionError(err)).toBe(true);
      expect(isRetryableDbError(err)).toBe(true);
    }
  });

  test("a deadlock is retried but is not an outage; a bad statement is neither", () => {
    expect(isRetryableDbError(pgError("40P01"))).toBe(true);
    expect(isConnectionError(pgError("40P01"))).toBe(false);
    for (const code of ["23505", "22P05", "42P01"]) {
      expect(isRetryableDbError(pgError(code))).toBe(false);
      expect(isConnectionError(pgError(code))).toBe(false);
    }
  });

  test("a driver error wrapped as a cause is found", () => {
    expect(isConnectionError(new Error("Failed query", { cause: pgError("53300") }))).toBe(true);
  });
});
