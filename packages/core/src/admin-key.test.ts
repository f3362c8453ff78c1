import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveAdminKey } from "./admin-key.ts";
import { dataDir, parseEnv } from "./env.ts";

describe("resolveAdminKey", () => {
  let root: string;
  /** The default data folder of a checkout at `root`: `<root>/.data`. */
  let data: string;
  let keyFile: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "conveyor-admin-key-"));
    data = dataDir(parseEnv({}), root);
    keyFile = join(root, ".data", "admin-api-key");
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const mode = (file: string) => statSync(file).mode & 0o777;

  test("a given key is returned as it is and never written", () => {
    const given = "given-admin-key-0123456789";
    expect(resolveAdminKey(given, data)).toEqual({ key: given, generated: false, file: null });
    expect(existsSync(data)).toBe(false);
  });

  test("a given key wins over a kept one", () => {
    resolveAdminKey(undefined, data);
    const given = "given-admin-key-0123456789";
    expect(resolveAdminKey(given, data)).toEqual({ key: given, generated: false, file: null });
  });

  test("without one, a key is generated once into .data/admin-api-key (mode 0600) and then reused", () => {
    const first = resolveAdminKey(undefined, data);
    expect(first.generated).toBe(true);
    expect(first.file).toBe(keyFile);
    expect(first.key.length).toBeGreaterThanOrEqual(16);
    expect(readFileSync(keyFile, "utf8").trim()).toBe(first.key);
    expect(mode(keyFile)).toBe(0o600);

    const second = resolveAdminKey(undefined, data);
    expect(second).toEqual({ key: first.key, generated: false, file: keyFile });
    expect(mode(keyFile)).toBe(0o600);
    // Nothing else is left beside the key.
    expect(readdirSync(data)).toEqual(["admin-api-key"]);
  });

  test("two roots get two different keys", () => {
    const other = mkdtempSync(join(tmpdir(), "conveyor-admin-key-"));
    try {
      expect(resolveAdminKey(undefined, data).key).not.toBe(resolveAdminKey(undefined, join(other, ".data")).key);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  test("an empty or truncated key file (a crash mid-write) is replaced, not used as the key", () => {
    mkdirSync(data, { recursive: true });
    for (const content of ["", "\n", "short\n"]) {
      writeFileSync(keyFile, content, { mode: 0o600 });
      const made = resolveAdminKey(undefined, data);
      expect(made.generated).toBe(true);
      expect(made.key.length).toBeGreaterThanOrEqual(16);
      expect(readFileSync(keyFile, "utf8").trim()).toBe(made.key);
      expect(mode(keyFile)).toBe(0o600);
      expect(resolveAdminKey(undefined, data)).toEqual({ key: made.key, generated: false, file: keyFile });
    }
    expect(readdirSync(data)).toEqual(["admin-api-key"]);
  });

  test("processes starting at once all end up with the same key, made by one of them", async () => {
    const script = `import { resolveAdminKey } from ${JSON.stringify(join(import.meta.dir, "admin-key.ts"))};
      process.stdout.write(JSON.stringify(resolveAdminKey(undefined, process.env.KEY_DIR)));`;
    const runs = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const proc = Bun.spawn([process.execPath, "-e", script], {
          env: { ...process.env, KEY_DIR: data },
          stdout: "pipe",
          stderr: "inherit",
        });
        const out = await new Response(proc.stdout).text();
        expect(await proc.exited).toBe(0);
        return JSON.parse(out) as { key: string; generated: boolean };
      }),
    );
    const kept = readFileSync(keyFile, "utf8").trim();
    expect(kept.length).toBeGreaterThanOrEqual(16);
    for (const r of runs) expect(r.key).toBe(kept);
    expect(runs.filter((r) => r.generated)).toHaveLength(1);
    expect(mode(keyFile)).toBe(0o600);
  });
});
