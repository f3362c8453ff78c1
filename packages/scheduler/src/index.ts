export * from "./backoff.ts";
export * from "./dispatch.ts";
export * from "./events.ts";
export * from "./input.ts";
export * from "./runtime.ts";
export * from "./scheduler.ts";
export * from "./services.ts";
export * from "./view.ts";
