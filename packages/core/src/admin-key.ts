import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface AdminKey {
  key: string;
  /** True when this call made the key (so it may be printed once); false when given or kept. */
  generated: boolean;
  /** Where a generated key is kept, if it was. */
  file: string | null;
}

/**
 * The bootstrap admin key: `ADMIN_API_KEY` when given (never printed), else the one kept in
 * `.data/admin-api-key` (mode 0600), else a new one written there.
 */
export function resolveAdminKey(given: string | undefined, rootDir: string): AdminKey {
  if (given) return { key: given, generated: false, file: null };
  const dir = join(rootDir, ".data");
  const file = join(dir, "admin-api-key");
  if (existsSync(file)) {
    const kept = readFileSync(file, "utf8").trim();
    if (kept.length >= 16) return { key: kept, generated: false, file };
  }
  mkdirSync(dir, { recursive: true });
  const key = `cvk_admin_${randomBytes(24).toString("base64url")}`;
  try {
    // `wx`: when two processes start at once, one writes and the other reads its key.
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return { key: readFileSync(file, "utf8").trim(), generated: false, file };
  }
  chmodSync(file, 0o600);
  return { key, generated: true, file };
}
