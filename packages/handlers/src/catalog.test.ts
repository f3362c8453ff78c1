import { describe, expect, test } from "bun:test";
import { ConveyorError, UnknownTaskTypeError } from "@conveyor/core";
import { z } from "zod";
import { BUILT_IN_TYPES, TaskCatalog } from "./catalog.ts";
import { defineTaskType, type TaskType } from "./define.ts";
import { echo } from "./echo.ts";
import { sleep } from "./sleep.ts";

const named = (type: string) =>
  defineTaskType({ type, description: "test", schema: z.unknown(), run: async () => null }) as TaskType;

describe("TaskCatalog", () => {
  test("holds the built-in types by default", () => {
    const catalog = new TaskCatalog();
    expect(catalog.types).toEqual(expect.arrayContaining(["echo", "sleep"]));
    expect(catalog.types).toEqual(BUILT_IN_TYPES.map((t) => t.type));
    expect(catalog.has("echo")).toBe(true);
    expect(catalog.has("sleep")).toBe(true);
    expect(catalog.get("echo")).toBe(echo as unknown as TaskType);
    expect(catalog.get("sleep")).toBe(sleep as unknown as TaskType);
    expect(catalog.all()).toHaveLength(BUILT_IN_TYPES.length);
  });

  test("the built-ins carry the contract's defaults", () => {
    const catalog = new TaskCatalog();
    expect(catalog.get("echo").defaults.timeoutMs).toBe(30_000);
    expect(catalog.get("sleep").defaults.timeoutMs).toBe(3_660_000);
    for (const t of catalog.all()) {
      expect(t.description.length).toBeGreaterThan(0);
      expect(t.defaults.priority).toBe("normal");
      expect(t.defaults.concurrency.min).toBeLessThanOrEqual(t.defaults.concurrency.max);
    }
  });

  test("an unknown type throws UnknownTaskTypeError (unknown_task_type, 404)", () => {
    const catalog = new TaskCatalog();
    expect(catalog.has("nope")).toBe(false);
    let thrown: unknown;
    try {
      catalog.get("nope");
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UnknownTaskTypeError);
    expect(thrown).toBeInstanceOf(ConveyorError);
    expect(thrown).toMatchObject({ code: "unknown_task_type", status: 404, type: "nope" });
    expect((thrown as Error).message).toContain("nope");
    // Lookups are exact: no prototype keys, no case folding.
    expect(() => catalog.get("toString")).toThrow(UnknownTaskTypeError);
    expect(() => catalog.get("constructor")).toThrow(UnknownTaskTypeError);
    expect(() => catalog.get("ECHO")).toThrow(UnknownTaskTypeError);
    expect(() => catalog.get("")).toThrow(UnknownTaskTypeError);
  });

  test("a custom catalog holds only what it was given", () => {
    const catalog = new TaskCatalog([named("resize_image"), echo as unknown as TaskType]);
    expect(catalog.types).toEqual(["resize_image", "echo"]);
    expect(() => catalog.get("sleep")).toThrow(UnknownTaskTypeError);
  });

  test("a type defined twice is refused", () => {
    expect(() => new TaskCatalog([echo as unknown as TaskType, echo as unknown as TaskType])).toThrow(/defined twice/);
    expect(() => new TaskCatalog([named("dup"), named("dup")])).toThrow(/'dup'/);
  });

  test("invalid names are refused", () => {
    for (const name of ["", "Echo", "1echo", "with-dash", "with space", "dotted.name", "_lead", "é", "a".repeat(64)]) {
      expect(() => new TaskCatalog([named(name)])).toThrow(/not allowed/);
    }
    // The longest allowed name is 63 characters.
    expect(new TaskCatalog([named("a".repeat(63))]).has("a".repeat(63))).toBe(true);
  });

  test('reserved names ("events", "__schedules") are refused', () => {
    for (const name of ["events", "__schedules"]) {
      expect(() => new TaskCatalog([named(name)])).toThrow(/not allowed/);
    }
  });
});

describe("defineTaskType", () => {
  test("fills defaults the type leaves out", () => {
    const t = defineTaskType({
      type: "partial",
      description: "test",
      schema: z.unknown(),
      defaults: { timeoutMs: 5000 },
      run: async () => null,
    });
    expect(t.defaults).toEqual({
      timeoutMs: 5000,
      maxAttempts: 3,
      backoff: { strategy: "exponential", delayMs: 1000 },
      priority: "normal",
      concurrency: { min: 1, max: 10 },
    });
  });
});
