import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type ChildMessage, type ChildStats, CONFIG_VAR, type ParentMessage } from "./messages.ts";

/** Where children write CPU profiles (`--profile`), or null. */
let profileDir: string | null = null;
let profiled = 0;

/** Runs every child from now on under `bun --cpu-prof`, profiles named after the child. */
export function profileChildren(dir: string): void {
  profileDir = dir;
}

function childFlags(name: string): string[] {
  if (!profileDir) return [];
  profiled++;
  return ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${profiled}-${name}`];
}

/** A bench child process (api, worker node or raw worker) and the IPC channel to it. */
export class Child {
  private waiters: ((m: ChildMessage) => void)[] = [];
  private readyPort: Promise<number | undefined>;

  private constructor(
    readonly name: string,
    private readonly proc: Subprocess,
    ready: Promise<number | undefined>,
  ) {
    this.readyPort = ready;
  }

  /** Starts `bench/<script>` with its configuration and waits until it says it is ready. */
  static async start(name: string, script: string, config: object, timeoutMs = 60_000): Promise<Child> {
    let onReady: (port: number | undefined) => void = () => {};
    const ready = new Promise<number | undefined>((resolve) => {
      onReady = resolve;
    });
    let child: Child | undefined;
    const proc = Bun.spawn([process.execPath, ...childFlags(name), join(import.meta.dir, script)], {
      env: { ...process.env, [CONFIG_VAR]: JSON.stringify(config) },
      stdout: "inherit",
      stderr: "inherit",
      ipc(message) {
        const m = message as ChildMessage;
        if (m.kind === "ready") onReady(m.port);
        else child?.deliver(m);
      },
    });
    child = new Child(name, proc, ready);
    const exited = proc.exited.then((code) => {
      throw new Error(`${name} process exited with code ${code} before it was ready`);
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} process not ready after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([ready, exited, timeout]);
    } catch (err) {
      proc.kill();
      throw err;
    } finally {
      clearTimeout(timer);
      exited.catch(() => {});
    }
    return child;
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** The port the child serves on (the api). */
  async port(): Promise<number> {
    const port = await this.readyPort;
    if (port === undefined) throw new Error(`${this.name} process serves no port`);
    return port;
  }

  private deliver(m: ChildMessage): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(m);
  }

  private send(m: ParentMessage): void {
    this.proc.send(m);
  }

  /** The child's own figures, with its peak RSS from /proc (VmHWM) when this is Linux. */
  async stats(): Promise<ChildStats> {
    const reply = new Promise<ChildMessage>((resolve) => this.waiters.push(resolve));
    this.send({ kind: "stats" });
    const m = await reply;
    if (m.kind !== "stats") throw new Error(`${this.name}: unexpected answer ${m.kind}`);
    const hwm = peakRssFromProc(this.pid);
    return hwm === null ? m.stats : { ...m.stats, rssPeakBytes: Math.max(hwm, m.stats.rssPeakBytes) };
  }

  /** Asks the child to close cleanly; kills it if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 20_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.killed) return;
    try {
      this.send({ kind: "stop" });
    } catch {
      // The channel is gone already: the kill below ends it.
    }
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    await this.proc.exited;
    clearTimeout(timer);
  }
}

/** VmHWM (peak resident set) of a process in bytes, or null where /proc is not there. */
export function peakRssFromProc(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}
