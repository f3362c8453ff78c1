import { index, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/** API keys: a tenant, scopes, an optional submission rate limit. Only a hash of the secret is kept. */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: uuid().primaryKey(),
    tenant: text().notNull(),
    name: text().notNull(),
    scopes: text().array().notNull(),
    /** SHA-256 of the key (hex): keys are random 256-bit secrets, so a plain hash is enough. */
    keyHash: text().notNull(),
    rateLimit: jsonb().$type<{ max: number; durationMs: number }>(),
    createdAt: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
    revokedAt: timestamp({ withTimezone: true, mode: "date" }),
    lastUsedAt: timestamp({ withTimezone: true, mode: "date" }),
  },
  (t) => [uniqueIndex("api_keys_key_hash").on(t.keyHash), index("api_keys_tenant").on(t.tenant)],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
