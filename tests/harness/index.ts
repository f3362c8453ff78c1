export * from "./apps.ts";
export * from "./database.ts";
export * from "./ports.ts";
export * from "./redis.ts";
export * from "./services.ts";
export * from "./stack.ts";
export * from "./wait.ts";
