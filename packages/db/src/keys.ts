import { createHash, randomBytes } from "node:crypto";
import { SCOPES, type Scope } from "@conveyor/core";
import { and, asc, eq, getTableColumns, gt, isNull, lt, or, sql } from "drizzle-orm";
import type { DbHandle } from "./client.ts";
import { type ApiKeyRow, apiKeys, sessions } from "./schema/index.ts";
import { orUnavailable } from "./unavailable.ts";

/** A key's submission rate limit: a sliding window of `max` tasks per `durationMs`. */
export interface KeyRateLimit {
  max: number;
  durationMs: number;
}

/** A stored key as the rest of the system may see it: never its hash. */
export type ApiKey = Omit<ApiKeyRow, "keyHash" | "scopes" | "rateLimit"> & {
  scopes: Scope[];
  rateLimit: KeyRateLimit | null;
};

export interface NewKey {
  tenant: string;
  name: string;
  scopes: Scope[];
  rateLimit?: KeyRateLimit | null;
}

/** An active session and the key that made it (null: the bootstrap admin key, which is not stored). */
export interface ActiveSession {
  id: string;
  expiresAt: Date;
  key: ApiKey | null;
}

/** The prefix of every generated key, so a leaked one is recognisable (secret scanners). */
export const KEY_PREFIX = "cvk_";

/** SHA-256 hex of a key or session token: what the tables keep instead of the secret. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

const randomSecret = () => randomBytes(32).toString("base64url");

const { keyHash: _keyHash, ...publicColumns } = getTableColumns(apiKeys);

/** Only scopes this version knows: a row written by a newer one must not grant something unknown here. */
function toApiKey(row: Omit<ApiKeyRow, "keyHash">): ApiKey {
  return {
    ...row,
    scopes: row.scopes.filter((s): s is Scope => (SCOPES as readonly string[]).includes(s)),
    rateLimit: row.rateLimit ?? null,
  };
}

/** `touchKey` writes a key's `last_used_at` at most this often. */
const TOUCH_EVERY_MS = 60_000;
/** Bounds the memory of when each key was last touched; past it, the memory starts again. */
const TOUCH_MEMORY = 10_000;

/**
 * API keys and browser sessions in PostgreSQL. Secrets are random 256-bit values, so a plain
 * SHA-256 of each is what is kept and looked up: the secret itself is only ever returned once.
 */
export class KeyStore {
  private readonly touched = new Map<string, number>();

  constructor(private readonly pg: DbHandle) {}

  /** Makes a key; `key` is the secret, shown to the caller this once and kept only as a hash. */
  async createKey(input: NewKey): Promise<{ row: ApiKey; key: string }> {
    const key = `${KEY_PREFIX}${randomSecret()}`;
    const rows = await orUnavailable("create key", () =>
      this.pg.db
        .insert(apiKeys)
        .values({
          id: Bun.randomUUIDv7(),
          tenant: input.tenant,
          name: input.name,
          scopes: [...new Set(input.scopes)],
          keyHash: hashSecret(key),
          rateLimit: input.rateLimit ?? null,
        })
        .returning(publicColumns),
    );
    return { row: toApiKey(rows[0] as Omit<ApiKeyRow, "keyHash">), key };
  }

  /** Every key, revoked ones too, oldest first. */
  async listKeys(): Promise<ApiKey[]> {
    const rows = await orUnavailable("list keys", () =>
      this.pg.db.select(publicColumns).from(apiKeys).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id)),
    );
    return rows.map(toApiKey);
  }

  /**
   * Revokes a key and every session it made. False when there is no such key; revoking a
   * revoked key keeps its first revocation time.
   */
  async revokeKey(id: string): Promise<boolean> {
    return orUnavailable("revoke key", () =>
      this.pg.db.transaction(async (tx) => {
        const rows = await tx
          .update(apiKeys)
          .set({ revokedAt: sql`coalesce(${apiKeys.revokedAt}, now())` })
          .where(eq(apiKeys.id, id))
          .returning({ id: apiKeys.id });
        if (rows.length === 0) return false;
        // Sessions are refused anyway once their key is revoked (see findActiveSession); marking
        // them too keeps each row telling the truth on its own.
        await tx
          .update(sessions)
          .set({ revokedAt: sql`now()` })
          .where(and(eq(sessions.keyId, id), isNull(sessions.revokedAt)));
        return true;
      }),
    );
  }

  /** The key with this hash, unless it is revoked. */
  async findActiveKeyByHash(hash: string): Promise<ApiKey | null> {
    const rows = await orUnavailable("authenticate", () =>
      this.pg.db
        .select(publicColumns)
        .from(apiKeys)
        .where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)))
        .limit(1),
    );
    return rows[0] ? toApiKey(rows[0]) : null;
  }

  /** Opens a session for a key (null: the bootstrap admin key); returns its token, kept only as a hash. */
  async createSession(keyId: string | null, ttlMs: number): Promise<string> {
    const token = randomSecret();
    await orUnavailable("create session", () =>
      this.pg.db.insert(sessions).values({
        id: Bun.randomUUIDv7(),
        tokenHash: hashSecret(token),
        keyId,
        expiresAt: sql`now() + make_interval(secs => ${ttlMs / 1000}::float8)`,
      }),
    );
    return token;
  }

  /**
   * The session with this token hash and its key, when the session is neither revoked nor
   * expired and its key (if it has one) is not revoked. Expiry uses the database's clock.
   */
  async findActiveSession(tokenHash: string): Promise<ActiveSession | null> {
    const rows = await orUnavailable("authenticate", () =>
      this.pg.db
        .select({ id: sessions.id, keyId: sessions.keyId, expiresAt: sessions.expiresAt, key: publicColumns })
        .from(sessions)
        .leftJoin(apiKeys, eq(apiKeys.id, sessions.keyId))
        .where(
          and(
            eq(sessions.tokenHash, tokenHash),
            isNull(sessions.revokedAt),
            gt(sessions.expiresAt, sql`now()`),
            or(isNull(sessions.keyId), isNull(apiKeys.revokedAt)),
          ),
        )
        .limit(1),
    );
    const row = rows[0];
    // A session whose key row is missing must not pass for one made with the bootstrap admin key.
    if (!row || (row.keyId !== null && row.key === null)) return null;
    return { id: row.id, expiresAt: row.expiresAt, key: row.key ? toApiKey(row.key) : null };
  }

  /** Ends a session (logout); false when there was no active session with this token hash. */
  async revokeSession(tokenHash: string): Promise<boolean> {
    const rows = await orUnavailable("revoke session", () =>
      this.pg.db
        .update(sessions)
        .set({ revokedAt: sql`now()` })
        .where(and(eq(sessions.tokenHash, tokenHash), isNull(sessions.revokedAt)))
        .returning({ id: sessions.id }),
    );
    return rows.length > 0;
  }

  /**
   * Records that a key was used, at most once a minute per key: calls in between cost a map
   * look-up, and the statement itself skips a row another process touched within the minute.
   * Never throws: `last_used_at` is informative, and a request must not fail over it.
   */
  touchKey(id: string): void {
    const now = Date.now();
    const last = this.touched.get(id);
    if (last !== undefined && now - last < TOUCH_EVERY_MS) return;
    if (this.touched.size >= TOUCH_MEMORY) this.touched.clear();
    this.touched.set(id, now);
    this.pg.db
      .update(apiKeys)
      .set({ lastUsedAt: sql`now()` })
      .where(
        and(
          eq(apiKeys.id, id),
          or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, sql`now() - interval '1 minute'`)),
        ),
      )
      .catch(() => {});
  }
}
