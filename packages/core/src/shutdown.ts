import type { Logger } from "./logger.ts";

export interface ShutdownOptions {
  /** The process's name in the log (`<name> did not stop cleanly`). */
  name: string;
  log: Logger;
  /** Logged with `draining`: how long the process gives what it is doing. */
  graceMs: number;
  /** Drains and closes everything; a throw makes the exit code 1. */
  stop: () => Promise<void>;
  /** Called on every further signal while `stop` runs (default: ignored). */
  again?: (signal: NodeJS.Signals) => void;
}

/** On the first SIGINT/SIGTERM, runs `stop` once and exits (0, or 1 if it threw). */
export function onShutdown({ name, log, graceMs, stop, again }: ShutdownOptions): void {
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, async () => {
      if (stopping) {
        again?.(sig);
        return;
      }
      stopping = true;
      log.info({ signal: sig, graceMs }, "draining");
      let code = 0;
      try {
        await stop();
      } catch (err) {
        log.error({ err: (err as Error).message }, `${name} did not stop cleanly`);
        code = 1;
      }
      process.exit(code);
    });
  }
}
