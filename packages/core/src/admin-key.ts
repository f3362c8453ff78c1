import { randomBytes } from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
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
 * `<dataRoot>/admin-api-key` (`.data/admin-api-key` by default) (mode 0600), else a new one written there.
 */
export function resolveAdminKey(given: string | undefined, dataRoot: string): AdminKey {
  if (given) return { key: given, generated: false, file: null };
  const dir = dataRoot;
  const file = join(dir, "admin-api-key");
  const kept = readKept(file);
  if (kept) return { key: kept, generated: false, file };
  mkdirSync(dir, { recursive: true });
  const key = `cvk_admin_${randomBytes(24).toString("base64url")}`;
  // Written whole under a temporary name first, so the key file never exists half written: a
  // file left empty by a crash, or read by another process mid-write, would be a useless key.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(tmp, `${key}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  try {
    try {
      // `link` fails when the file exists: when processes start at once, one wins, the others read its key.
      linkSync(tmp, file);
      return { key, generated: true, file };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        const other = readKept(file);
        if (other) return { key: other, generated: false, file };
      }
    }
    // An empty or truncated file (or a file system without hard links): replace it.
    renameSync(tmp, file);
    return { key, generated: true, file };
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** The kept key, or null when there is none or it is too short to be one. */
function readKept(file: string): string | null {
  try {
    const kept = readFileSync(file, "utf8").trim();
    return kept.length >= 16 ? kept : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}
