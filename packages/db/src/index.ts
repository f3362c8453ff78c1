export * from "./client.ts";
export * from "./ledger.ts";
export * from "./migrate.ts";
export * from "./nodes.ts";
export * from "./reconcile-queries.ts";
export * from "./schema/index.ts";
export * from "./unavailable.ts";
