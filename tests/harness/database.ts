import { runMigrations } from "@conveyor/db";
import postgres from "postgres";
import { testServices } from "./services.ts";

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** The same server as `url`, another database. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * A fresh database for one suite, migrated, dropped by `drop()`. Its own database (not a
 * schema) because drizzle's migration journal is per database.
 */
export async function createTestDatabase(label = "t"): Promise<TestDatabase> {
  const { adminUrl } = await testServices();
  const name = `conveyor_${label.replace(/[^a-z0-9_]/gi, "_").toLowerCase()}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  await runMigrations(url);
  return {
    name,
    url,
    async drop() {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
