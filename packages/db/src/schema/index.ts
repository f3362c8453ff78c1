export * from "./api-keys.ts";
export * from "./audit-log.ts";
export * from "./nodes.ts";
export * from "./queue-settings.ts";
export * from "./sessions.ts";
export * from "./task-attempts.ts";
export * from "./task-logs.ts";
export * from "./tasks.ts";
