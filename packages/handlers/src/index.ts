export * from "./catalog.ts";
export * from "./define.ts";
export { echo } from "./echo.ts";
export { countdown } from "./examples/countdown.ts";
export * from "./failure.ts";
export { sleep } from "./sleep.ts";
