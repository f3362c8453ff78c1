import { monitorEventLoopDelay } from "node:perf_hooks";

/**
 * Samples this process's event-loop delay all the time; `takeMaxMs()` is the worst since the
 * previous call. A loop stalled for a second between two looks must show, which a probe at look
 * time would miss. Each reader keeps its own (a take resets the window).
 */
export class LoopLag {
  private readonly histogram = monitorEventLoopDelay({ resolution: 20 });

  constructor() {
    this.histogram.enable();
  }

  /** The worst delay in ms since the previous call (0 when nothing was sampled), and a new window. */
  takeMaxMs(): number {
    const max = this.histogram.count > 0 ? this.histogram.max / 1e6 : 0;
    this.histogram.reset();
    return max;
  }

  /** Stops sampling. */
  close(): void {
    this.histogram.disable();
  }
}
