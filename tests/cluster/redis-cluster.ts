import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { eventually, freePort, spawnRedisServer } from "../harness/index.ts";

/** A private Redis Cluster of three masters (no replicas) on free ports of 127.0.0.1. */
export interface LocalCluster {
  /** `127.0.0.1:<port>` of each master, what `REDIS_CLUSTER_NODES` lists. */
  nodes: string[];
  ports: number[];
  /** Which master (index into `ports`) serves `slot`. */
  masterOf(slot: number): number;
  /** The slot of `key` as the cluster computes it (`CLUSTER KEYSLOT`). */
  keySlot(key: string): Promise<number>;
  /** Kills master `i` (SIGKILL: its keys are gone). */
  kill(i: number): Promise<void>;
  /** Starts master `i` again on its port and config file: it takes its slots back, empty. */
  restart(i: number): Promise<void>;
  /** Resolves once every node says `cluster_state:ok`. */
  healthy(): Promise<void>;
  /** Resolves once master `i` says `cluster_state:fail` (a master it knows is gone). */
  failing(i: number): Promise<void>;
  stop(): Promise<void>;
}

const MASTERS = 3;
// A cluster node also listens on its port + 10000 (the cluster bus; `cluster-port` needs Redis 7).
const BUS_OFFSET = 10_000;

/** True when nothing listens on `port` of 127.0.0.1 (just now). */
function isFree(port: number): boolean {
  try {
    Bun.serve({ port, hostname: "127.0.0.1", fetch: () => new Response() }).stop(true);
    return true;
  } catch {
    return false;
  }
}

/** A free port whose cluster bus port is free too. */
function nodePort(taken: number[]): number {
  for (;;) {
    const port = freePort();
    if (port + BUS_OFFSET <= 65_535 && !taken.includes(port) && isFree(port + BUS_OFFSET)) return port;
  }
}

/**
 * Starts `redis-server --cluster-enabled yes` on three free ports and joins them with
 * `redis-cli --cluster create`; resolves once every node says `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<LocalCluster> {
  const dir = await mkdtemp(join(tmpdir(), "conveyor-cluster-"));
  const ports: number[] = [];
  for (let i = 0; i < MASTERS; i++) ports.push(nodePort(ports));
  const spawn = (port: number) =>
    spawnRedisServer(port, [
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      join(dir, `nodes-${port}.conf`),
      "--cluster-node-timeout",
      "2000",
      "--dir",
      dir,
      "--daemonize",
      "no",
    ]);
  const servers = ports.map(spawn);
  const clients = ports.map(
    (port) => new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 }),
  );
  for (const c of clients) c.on("error", () => {});
  const stop = async () => {
    for (const c of clients) c.disconnect();
    for (const s of servers) s.kill("SIGKILL");
    await Promise.all(servers.map((s) => s.exited));
    await rm(dir, { recursive: true, force: true });
  };
  const healthy = async () => {
    await Promise.all(
      clients.map((c) =>
        eventually(async () => ((await c.cluster("INFO")) as string).includes("cluster_state:ok"), {
          timeoutMs: 15_000,
          what: "cluster_state:ok",
        }),
      ),
    );
  };
  try {
    await Promise.all(
      clients.map((c, i) =>
        eventually(() => c.ping().then((r) => r === "PONG"), { what: `redis-server on ${ports[i]}` }),
      ),
    );
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    const create = Bun.spawn(
      ["redis-cli", "--cluster", "create", ...nodes, "--cluster-replicas", "0", "--cluster-yes"],
      {
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    if ((await create.exited) !== 0) {
      throw new Error(`redis-cli --cluster create failed: ${await new Response(create.stderr).text()}`);
    }
    await healthy();
    // Which port serves which slot range, as the cluster itself says.
    const ranges = (await clients[0]?.cluster("SLOTS")) ?? [];
    const masterOf = (slot: number) => {
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!range?.[2]) throw new Error(`slot ${slot} is not served`);
      return ports.indexOf(range[2][1]);
    };
    return {
      nodes,
      ports,
      masterOf,
      keySlot: async (key) => (await clients[0]?.cluster("KEYSLOT", key)) as number,
      async kill(i) {
        servers[i]?.kill("SIGKILL");
        await servers[i]?.exited;
      },
      async restart(i) {
        servers[i] = spawn(ports[i] as number);
        await eventually(() => clients[i]?.ping().then((r) => r === "PONG"), { what: `redis-server on ${ports[i]}` });
      },
      healthy,
      async failing(i) {
        await eventually(async () => ((await clients[i]?.cluster("INFO")) as string).includes("cluster_state:fail"), {
          timeoutMs: 15_000,
          what: "cluster_state:fail",
        });
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
