import { describe, expect, test } from "bun:test";
import { TaskCatalog } from "@conveyor/handlers";
import { ConcurrencyConfigError, parseConcurrency } from "./concurrency.ts";

const catalog = new TaskCatalog();
const types = ["echo", "sleep"];
const defaults = {
  echo: catalog.get("echo").defaults.concurrency,
  sleep: catalog.get("sleep").defaults.concurrency,
};

function refused(spec: string, served = types): ConcurrencyConfigError {
  try {
    parseConcurrency(spec, catalog, served);
  } catch (err) {
    expect(err).toBeInstanceOf(ConcurrencyConfigError);
    expect((err as Error).message).toContain("WORKER_CONCURRENCY");
    return err as ConcurrencyConfigError;
  }
  throw new Error(`expected '${spec}' to be refused`);
}

describe("parseConcurrency (WORKER_CONCURRENCY)", () => {
  test("empty keeps every served type's catalog defaults", () => {
    expect(parseConcurrency("", catalog, types)).toEqual(defaults);
    expect(parseConcurrency("   ", catalog, types)).toEqual(defaults);
  });

  test('"200" sets every type\'s maximum, keeping its minimum', () => {
    expect(parseConcurrency("200", catalog, types)).toEqual({
      echo: { min: defaults.echo.min, max: 200 },
      sleep: { min: defaults.sleep.min, max: 200 },
    });
  });

  test('"sleep=5000,echo=100" sets maxima per type', () => {
    expect(parseConcurrency("sleep=5000,echo=100", catalog, types)).toEqual({
      echo: { min: defaults.echo.min, max: 100 },
      sleep: { min: defaults.sleep.min, max: 5000 },
    });
    // Spaces around the parts are allowed.
    expect(parseConcurrency(" sleep = 5000 , echo = 100 ", catalog, types)).toEqual({
      echo: { min: defaults.echo.min, max: 100 },
      sleep: { min: defaults.sleep.min, max: 5000 },
    });
  });

  test('"sleep=4-40" sets a range; types not named keep their defaults', () => {
    expect(parseConcurrency("sleep=4-40", catalog, types)).toEqual({
      echo: defaults.echo,
      sleep: { min: 4, max: 40 },
    });
    expect(parseConcurrency("sleep=7-7", catalog, types).sleep).toEqual({ min: 7, max: 7 });
  });

  test("a minimum above the maximum is lowered to it", () => {
    expect(parseConcurrency("sleep=50-5", catalog, types).sleep).toEqual({ min: 5, max: 5 });
    // The default minimum (10) is above a maximum of 3.
    expect(parseConcurrency("echo=3", catalog, types).echo).toEqual({ min: 3, max: 3 });
    expect(parseConcurrency("2", catalog, types)).toEqual({ echo: { min: 2, max: 2 }, sleep: { min: 2, max: 2 } });
  });

  test("only the served types are returned; a named type this node does not serve is ignored", () => {
    expect(parseConcurrency("sleep=5,echo=9", catalog, ["echo"])).toEqual({ echo: { min: 9, max: 9 } });
    expect(parseConcurrency("", catalog, ["sleep"])).toEqual({ sleep: defaults.sleep });
  });

  test("an unknown task type is an error naming it", () => {
    expect(refused("nope=5").message).toContain("nope");
    expect(refused("sleep=5,imaginary=2-4").message).toContain("imaginary");
  });

  test("garbage is an error", () => {
    for (const spec of [
      "abc",
      "0",
      "-5",
      "1.5",
      "sleep",
      "sleep=",
      "sleep=x",
      "sleep=0",
      "sleep=0-4",
      "sleep=4-0",
      "sleep=1-2-3",
      "sleep=-4",
      "sleep=5,,echo=3",
      "sleep:5",
      "Sleep=5",
      "200,sleep=5",
    ]) {
      refused(spec);
    }
  });
});
