import type { ChildMessage, ChildStats, ParentMessage, PhaseFigures } from "./messages.ts";

/** Times every call of some methods: count, total, mean and longest. */
export class PhaseTimer {
  private readonly figures = new Map<string, { calls: number; totalMs: number; maxMs: number }>();

  /** Replaces `target[method]` on this instance by a timed wrapper (the product code is left as it is). */
  wrap<T extends object>(target: T, method: keyof T & string, name: string = method): void {
    const original = target[method];
    if (typeof original !== "function") return;
    const fn = original as (...args: unknown[]) => unknown;
    const record = (ms: number) => {
      const f = this.figures.get(name) ?? { calls: 0, totalMs: 0, maxMs: 0 };
      f.calls++;
      f.totalMs += ms;
      f.maxMs = Math.max(f.maxMs, ms);
      this.figures.set(name, f);
    };
    Object.defineProperty(target, method, {
      configurable: true,
      writable: true,
      value: (...args: unknown[]) => {
        const started = performance.now();
        const out = fn.apply(target, args);
        if (out instanceof Promise) {
          return out.finally(() => record(performance.now() - started));
        }
        record(performance.now() - started);
        return out;
      },
    });
  }

  snapshot(): Record<string, PhaseFigures> {
    const out: Record<string, PhaseFigures> = {};
    for (const [name, f] of this.figures) {
      out[name] = {
        calls: f.calls,
        totalMs: round(f.totalMs),
        meanMs: round(f.totalMs / f.calls),
        maxMs: round(f.maxMs),
      };
    }
    return out;
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * Answers the bench process: `ready` once, `stats` when asked, and a clean exit on `stop`
 * (a clean exit is what writes a `--cpu-prof` profile).
 */
export function serveParent(opts: { stats: () => Partial<ChildStats>; stop: () => Promise<void> }): {
  ready(port?: number): void;
} {
  let rssPeak = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  }, 50);
  const send = (m: ChildMessage) => process.send?.(m);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(sampler);
    await opts.stop().catch((err) => console.error("bench child: stop failed", err));
    process.exit(0);
  };
  process.on("message", (raw) => {
    const m = raw as ParentMessage;
    if (m.kind === "stats") {
      const cpu = process.cpuUsage();
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
      send({
        kind: "stats",
        stats: {
          pid: process.pid,
          rssPeakBytes: rssPeak,
          cpuUserMs: cpu.user / 1000,
          cpuSystemMs: cpu.system / 1000,
          ...opts.stats(),
        },
      });
    } else if (m.kind === "stop") {
      void stop();
    }
  });
  // The parent went away (crashed or interrupted): do not outlive it.
  process.on("disconnect", () => void stop());
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => void stop());
  return { ready: (port) => send({ kind: "ready", port }) };
}
