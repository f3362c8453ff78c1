export * from "./nodes.ts";
export * from "./task-attempts.ts";
export * from "./tasks.ts";
export * from "./queue-settings.ts";
