import { type Ledger, type NodeRegistry, type NodeView, orUnavailable } from "@conveyor/db";

const MINUTE_MS = 60_000;

/** `SCALING_TARGET_DRAIN_S` when nothing says otherwise (CONTRACT.md). */
export const DEFAULT_TARGET_DRAIN_S = 60;

/** What `GET /v1/scaling` answers: the signal an autoscaler (KEDA, `start:workers`) follows. */
export interface ScalingSignal {
  /** Tasks waiting to start (queued, or delayed and due) in queues that are not paused. */
  backlog: number;
  /** Tasks submitted per second over the measuring window. */
  arrivalPerSec: number;
  /** Tasks that ended (`completed` or `failed`) per second over the measuring window. */
  completionPerSec: number;
  /** `backlog / completionPerSec`; null while nothing has completed in the window. */
  drainSeconds: number | null;
  /** Worker nodes heard from within 15 s. */
  activeNodes: number;
  /** Nodes that would drain the backlog within the target at the measured per-node rate. */
  desiredNodes: number;
}

/** What the signal is computed from; every count covers the same kinds of queue (not paused). */
export interface ScalingInputs {
  backlog: number;
  /** Tasks submitted during `arrivalSeconds`. */
  arrivals: number;
  arrivalSeconds: number;
  /** Tasks that ended during `completionSeconds`. */
  completions: number;
  completionSeconds: number;
  /** Seconds worker nodes were alive during `completionSeconds`, summed over nodes; 0 when unknown. */
  nodeSeconds: number;
  activeNodes: number;
  targetDrainSeconds: number;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
// 2.0000000001 nodes is 2 nodes: float noise must not add one.
const ceil = (v: number) => Math.ceil(v - 1e-9);

/**
 * The scaling signal from measured counts. Per node, a node completes `completions / nodeSeconds`
 * tasks a second; draining the backlog within the target while arrivals keep coming needs
 * `arrivalPerSec + backlog / target` a second. Without a measured rate (nothing ended yet) a
 * backlog asks for the nodes there are, at least one. With no backlog it never asks for more
 * nodes than are up: enough for the arrivals at the measured rate, at least one.
 */
export function computeScaling(i: ScalingInputs): ScalingSignal {
  const arrivalPerSec = i.arrivalSeconds > 0 ? i.arrivals / i.arrivalSeconds : 0;
  const completionPerSec = i.completionSeconds > 0 ? i.completions / i.completionSeconds : 0;
  const drainSeconds = completionPerSec > 0 ? Math.round((i.backlog / completionPerSec) * 10) / 10 : null;
  let perNodeRate: number | null = null;
  if (i.completions > 0) {
    // A node's own seconds when they are known (nodes that joined late count for less), else
    // the window shared by the nodes up now.
    perNodeRate = i.nodeSeconds >= 1 ? i.completions / i.nodeSeconds : completionPerSec / Math.max(1, i.activeNodes);
  }
  let desiredNodes: number;
  if (i.backlog > 0) {
    desiredNodes =
      perNodeRate === null
        ? Math.max(1, i.activeNodes)
        : Math.max(1, ceil((arrivalPerSec + i.backlog / i.targetDrainSeconds) / perNodeRate));
  } else {
    const forArrivals = perNodeRate === null ? 0 : ceil(arrivalPerSec / perNodeRate);
    desiredNodes = Math.max(1, Math.min(i.activeNodes, forArrivals));
  }
  return {
    backlog: i.backlog,
    arrivalPerSec: round3(arrivalPerSec),
    completionPerSec: round3(completionPerSec),
    drainSeconds,
    activeNodes: i.activeNodes,
    desiredNodes,
  };
}

/** Seconds each node was alive within `[since, now]`, summed: an `up` node until now, a `lost` one until last heard. */
export function nodeSecondsSince(
  nodes: Pick<NodeView, "startedAt" | "lastSeenAt" | "status">[],
  since: number,
  now: number,
) {
  let ms = 0;
  for (const n of nodes) {
    const from = Math.max(since, n.startedAt.getTime());
    const to = n.status === "up" ? now : Math.min(now, n.lastSeenAt.getTime());
    if (to > from) ms += to - from;
  }
  return ms / 1000;
}

export interface ScalingOptions {
  /** `SCALING_TARGET_DRAIN_S`. */
  targetDrainSeconds: number;
  /**
   * How far back arrivals are counted; default: the same window as completions (the previous
   * whole minute and the current one). The `start:workers` supervisor may shorten it.
   */
  arrivalWindowMs?: number;
}

/**
 * `GET /v1/scaling`: reads the ledger (backlog, submissions), the per-minute metric rollups
 * (completions), the nodes and the queue settings (paused queues are left out), and computes
 * the signal. Completions are counted over the previous whole minute and the current one, so
 * the rate covers 60 to 120 s and does not jump when a minute turns.
 */
export class ScalingService {
  constructor(
    private readonly deps: {
      ledger: Pick<Ledger, "metrics" | "queueSettingsList">;
      nodes: Pick<NodeRegistry, "listNodes">;
    },
    private readonly opts: ScalingOptions,
  ) {}

  /** The signal now. */
  async signal(now = Date.now()): Promise<ScalingSignal> {
    return computeScaling((await this.measure(now)).inputs);
  }

  /**
   * What the signal is computed from, and the nodes list it read: a supervisor that knows some
   * listed nodes are gone (its own workers that crashed, still `up` for 15 s) corrects the inputs.
   */
  measure(now = Date.now()): Promise<{ inputs: ScalingInputs; nodes: NodeView[] }> {
    return orUnavailable("scaling", () => this.read(now));
  }

  private async read(now: number): Promise<{ inputs: ScalingInputs; nodes: NodeView[] }> {
    const { ledger } = this.deps;
    const metrics = ledger.metrics();
    const since = Math.floor(now / MINUTE_MS) * MINUTE_MS - MINUTE_MS;
    const arrivalSince = this.opts.arrivalWindowMs === undefined ? since : now - this.opts.arrivalWindowMs;
    const settings = await ledger.queueSettingsList();
    const paused = settings.filter((s) => s.paused).map((s) => s.type);
    const [backlog, rollups, nodes, arrivals] = await Promise.all([
      metrics.pendingByType(),
      metrics.read({ tenant: null, since: new Date(since), until: new Date(now + MINUTE_MS) }),
      this.deps.nodes.listNodes(),
      metrics.submittedByType(new Date(arrivalSince)),
    ]);
    const counted = (type: string) => !paused.includes(type);
    const countedSum = (byType: Map<string, number>) =>
      sum([...byType].filter(([type]) => counted(type)).map(([, n]) => n));
    const inputs: ScalingInputs = {
      backlog: countedSum(backlog),
      arrivals: countedSum(arrivals),
      arrivalSeconds: Math.max(1, (now - arrivalSince) / 1000),
      completions: sum(rollups.filter((e) => counted(e.type)).map((e) => e.rollup.completed + e.rollup.failed)),
      completionSeconds: Math.max(1, (now - since) / 1000),
      nodeSeconds: nodeSecondsSince(nodes, since, now),
      activeNodes: nodes.filter((n) => n.status === "up").length,
      targetDrainSeconds: this.opts.targetDrainSeconds,
    };
    return { inputs, nodes };
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
