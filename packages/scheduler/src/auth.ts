import { createHash, timingSafeEqual } from "node:crypto";
import { DEFAULT_TENANT, type Principal, type Scope, UnauthorizedError } from "@conveyor/core";
import { type ApiKey, hashSecret, type KeyStore } from "@conveyor/db";

/** The cookie `POST /v1/sessions` sets; it holds the session's token, which is stored only hashed. */
export const SESSION_COOKIE = "conveyor_session";

/** Resolves a bearer token (or a session's token) to who is calling, or null when it is not valid. */
export interface Authenticator {
  authenticate(token: string): Promise<Principal | null>;
  /** Resolves a session cookie's token. Absent: this authenticator accepts no sessions. */
  authenticateSession?(token: string): Promise<Principal | null>;
  /** Forgets what this process cached for a key and the sessions it made; called once it is revoked. */
  forgetKey?(keyId: string): void;
  /** Forgets what this process cached for a session; called once it is ended. */
  forgetSession?(token: string): void;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/** Who the bootstrap admin key (and a session made with it) is. */
const BOOTSTRAP_ADMIN: Principal = Object.freeze({
  tenant: DEFAULT_TENANT,
  name: "bootstrap admin",
  scopes: ["admin"],
  keyId: null,
} satisfies Principal);

/**
 * The bootstrap admin key (tenant `default`, every scope). Compared as SHA-256 digests with
 * `timingSafeEqual`, so the time taken says nothing about the key or its length.
 */
export function adminKeyAuthenticator(adminKey: string): Authenticator {
  const expected = sha256(adminKey);
  return {
    authenticate: async (token) => (timingSafeEqual(sha256(token), expected) ? BOOTSTRAP_ADMIN : null),
  };
}

const principalOf = (key: ApiKey): Principal =>
  Object.freeze({ tenant: key.tenant, name: key.name, scopes: key.scopes, keyId: key.id, rateLimit: key.rateLimit });

/**
 * How long a resolved key or session is trusted without asking PostgreSQL again. The contract
 * refuses a revoked key within 5 s; another process's revocation is seen within this, and this
 * process forgets at once what it revokes itself.
 */
export const AUTH_CACHE_MS = 2_000;
/** Bounds the cache; past it the oldest entry goes first. */
const AUTH_CACHE_ENTRIES = 10_000;

export interface AuthenticatorOptions {
  keys: KeyStore;
  /** The bootstrap admin key (tenant `default`, scope `admin`); it is not stored in the table. */
  adminKey: string;
  cacheMs?: number;
}

/**
 * Resolves the bootstrap admin key, stored API keys (by the SHA-256 of the presented key) and
 * session tokens (a session is its key's principal; one made with the bootstrap key is the admin).
 * Only valid resolutions are cached: an unknown token always costs a look-up, so it can never
 * be cached as refused and then wrongly kept refused (or fill the cache).
 */
export function createAuthenticator(opts: AuthenticatorOptions): Required<Authenticator> {
  const admin = adminKeyAuthenticator(opts.adminKey);
  const cacheMs = opts.cacheMs ?? AUTH_CACHE_MS;
  const cache = new Map<string, { principal: Principal; until: number }>();

  const cached = (id: string): Principal | undefined => {
    const entry = cache.get(id);
    if (entry && entry.until > Date.now()) return entry.principal;
    if (entry) cache.delete(id);
    return undefined;
  };
  const remember = (id: string, principal: Principal) => {
    if (cache.size >= AUTH_CACHE_ENTRIES) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(id, { principal, until: Date.now() + cacheMs });
  };
  /**
   * The principal cached under `id`, else the one `load` finds (cached only when found); either
   * way the key is marked as used.
   */
  const resolve = async (id: string, load: () => Promise<Principal | null>): Promise<Principal | null> => {
    let principal = cached(id);
    if (!principal) {
      const loaded = await load();
      if (!loaded) return null;
      remember(id, loaded);
      principal = loaded;
    }
    if (principal.keyId) opts.keys.touchKey(principal.keyId);
    return principal;
  };

  return {
    async authenticate(token) {
      const asAdmin = await admin.authenticate(token);
      if (asAdmin) return asAdmin;
      const hash = hashSecret(token);
      return resolve(`key:${hash}`, async () => {
        const key = await opts.keys.findActiveKeyByHash(hash);
        return key ? principalOf(key) : null;
      });
    },
    async authenticateSession(token) {
      const hash = hashSecret(token);
      return resolve(`session:${hash}`, async () => {
        const session = await opts.keys.findActiveSession(hash);
        if (!session) return null;
        return session.key ? principalOf(session.key) : BOOTSTRAP_ADMIN;
      });
    },
    forgetKey(keyId) {
      for (const [id, entry] of cache) if (entry.principal.keyId === keyId) cache.delete(id);
    },
    forgetSession(token) {
      cache.delete(`session:${hashSecret(token)}`);
    },
  };
}

/**
 * Who is calling, from an `Authorization` header or a session cookie's token; throws
 * UnauthorizedError. The header, when sent, decides alone.
 */
export async function callerOf(
  auth: Authenticator,
  header: string | undefined,
  session: string | undefined,
): Promise<Principal> {
  if (header || !session || !auth.authenticateSession) {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match?.[1]) throw new UnauthorizedError();
    const principal = await auth.authenticate(match[1]);
    if (!principal) throw new UnauthorizedError("the API key is not valid");
    return principal;
  }
  const principal = await auth.authenticateSession(session);
  if (!principal) throw new UnauthorizedError("the session is not valid or has ended; log in again");
  return principal;
}

/** True when the principal holds `scope` (`admin` holds all; `tasks:write` includes read). */
export function hasScope(p: Principal, scope: Scope): boolean {
  if (p.scopes.includes("admin")) return true;
  if (scope === "tasks:read" && p.scopes.includes("tasks:write")) return true;
  return p.scopes.includes(scope);
}

/** The tenant a read is limited to: admin sees every tenant (null). */
export function tenantFilter(p: Principal): string | null {
  return p.scopes.includes("admin") ? null : p.tenant;
}
