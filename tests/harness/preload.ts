import { afterAll } from "bun:test";
import { stopTestServices } from "./services.ts";

// `bun test` fires no exit hooks in the test process: stop what the harness started here.
afterAll(() => stopTestServices());
