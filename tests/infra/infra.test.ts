import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "@conveyor/core";
import { computeScaling } from "@conveyor/scheduler";
import { freePort } from "../harness/index.ts";

// No container engine runs here: these read infra/ as Docker, Compose, Kubernetes and KEDA would,
// and check what would otherwise only fail on a cluster.

const root = projectRoot();
const infra = join(root, "infra");
// Parsed YAML, checked field by field below.
type Doc = any;

const yamlDocs = (file: string): Doc[] => {
  const parsed = Bun.YAML.parse(readFileSync(file, "utf8")) as Doc;
  return (Array.isArray(parsed) ? parsed : [parsed]).filter((d) => d !== null && d !== undefined);
};

/** `bun apps/<app>/src/index.ts`: the command must name an app entry that exists. */
const expectAppCommand = (command: string[]) => {
  expect(command[0]).toBe("bun");
  expect(command[1]).toMatch(/^apps\/(api|worker|monitor)\/src\/index\.ts$/);
  expect(existsSync(join(root, command[1] as string))).toBe(true);
};

/** A duration as Compose writes it (`45s`, `1m30s`) in ms. */
const composeDuration = (s: string): number => {
  let ms = 0;
  for (const [, n, unit] of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    ms += Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms" | "s" | "m" | "h"];
  }
  return ms;
};

describe("infra/compose.yaml", () => {
  const compose = yamlDocs(join(infra, "compose.yaml"))[0];
  const services = compose.services as Record<string, Doc>;

  test("Redis keeps every job: noeviction and AOF, on a volume", () => {
    const redis = services.redis;
    const args: string[] = redis.command;
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect(value("--maxmemory-policy")).toBe("noeviction");
    expect(value("--appendonly")).toBe("yes");
    expect(redis.volumes.some((v: string) => v.endsWith(":/data"))).toBe(true);
    expect(compose.volumes).toHaveProperty(redis.volumes[0].split(":")[0]);
  });

  test("PostgreSQL 15 with its data on a volume", () => {
    const pg = services.postgres;
    expect(pg.image).toMatch(/^postgres:15/);
    expect(pg.volumes.some((v: string) => v.endsWith(":/var/lib/postgresql/data"))).toBe(true);
  });

  test("api, three workers, monitor: one image, each command an app entry, production env, key from the environment", () => {
    for (const name of ["api", "worker", "monitor"]) {
      const s = services[name];
      expect(s.build.dockerfile).toBe("infra/Dockerfile");
      expect(existsSync(join(infra, s.build.context, s.build.dockerfile))).toBe(true);
      expectAppCommand(s.command);
      expect(s.command[1]).toBe(`apps/${name}/src/index.ts`);
      expect(s.environment.NODE_ENV).toBe("production");
      expect(s.environment.ADMIN_API_KEY).toMatch(/^\$\{ADMIN_API_KEY:\?/);
      expect(s.environment.DATABASE_URL).toContain("@postgres:5432/");
      expect(s.environment.REDIS_URL).toBe("redis://redis:6379");
    }
    expect(services.worker.deploy.replicas).toBe(3);
    expect(services.monitor.environment.API_URL).toBe("http://api:3000");
  });

  test("health checks call /healthz or /readyz on each app's own port; workers outlast their drain", () => {
    const ports = { api: "API_PORT", worker: "WORKER_PORT", monitor: "MONITOR_PORT" } as const;
    for (const [name, portVar] of Object.entries(ports)) {
      const s = services[name];
      const probe = (s.healthcheck.test as string[]).join(" ");
      expect(probe).toMatch(new RegExp(`127\\.0\\.0\\.1:${s.environment[portVar]}/(healthz|readyz)`));
    }
    for (const name of ["redis", "postgres"]) expect(services[name].healthcheck.test.length).toBeGreaterThan(1);
    const grace = Number(services.worker.environment.SHUTDOWN_GRACE_MS);
    expect(grace).toBeGreaterThan(0);
    expect(composeDuration(services.worker.stop_grace_period)).toBeGreaterThan(grace);
    expect(composeDuration(services.api.stop_grace_period)).toBeGreaterThan(grace);
    expect(services.api.depends_on.postgres.condition).toBe("service_healthy");
    expect(services.api.depends_on.redis.condition).toBe("service_healthy");
  });

  test("a health check command runs as written: it fails when nothing answers", async () => {
    const test = services.api.healthcheck.test as string[];
    expect(test[0]).toBe("CMD");
    const port = freePort();
    const run = async (p: number) => {
      const args = test.slice(1).map((a) => a.replace("127.0.0.1:3000", `127.0.0.1:${p}`));
      const proc = Bun.spawn(args, { stdout: "ignore", stderr: "ignore" });
      return proc.exited;
    };
    expect(await run(port)).not.toBe(0);
    const server = Bun.serve({ port: 0, fetch: () => Response.json({ status: "ok" }) });
    try {
      expect(await run(server.port as number)).toBe(0);
    } finally {
      server.stop(true);
    }
  });
});

describe("infra/k8s", () => {
  const dir = join(infra, "k8s");
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort();
  const docs = files.flatMap((f) => yamlDocs(join(dir, f)).map((d) => ({ file: f, ...d })));
  const ofKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const deployments = ofKind("Deployment");
  const deployment = (component: string) => {
    const d = deployments.find((x) => x.spec.template.metadata.labels["app.kubernetes.io/component"] === component);
    if (!d) throw new Error(`no ${component} Deployment`);
    return d;
  };
  const config = ofKind("ConfigMap")[0];
  const secret = ofKind("Secret")[0];
  const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => labels[k] === v);

  test("every document has a kind, a name and the namespace, which is created first", () => {
    expect(files.length).toBeGreaterThan(3);
    for (const d of docs) {
      expect(typeof d.kind).toBe("string");
      expect(typeof d.metadata?.name).toBe("string");
      if (d.kind !== "Namespace") expect(d.metadata.namespace).toBe("conveyor");
    }
    // kubectl apply -f infra/k8s/ applies files in name order.
    expect(yamlDocs(join(dir, files[0] as string))[0].kind).toBe("Namespace");
  });

  test("Deployments for api, worker and monitor, each running its app entry", () => {
    expect(deployments.map((d) => d.spec.template.metadata.labels["app.kubernetes.io/component"]).sort()).toEqual([
      "api",
      "monitor",
      "worker",
    ]);
    for (const d of deployments) {
      const component = d.spec.template.metadata.labels["app.kubernetes.io/component"];
      expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
      const [container] = d.spec.template.spec.containers;
      expectAppCommand(container.command);
      expect(container.command[1]).toBe(`apps/${component}/src/index.ts`);
    }
  });

  test("probes on /readyz and /healthz at a port the container exposes; grace periods above SHUTDOWN_GRACE_MS", () => {
    const graceMs = Number(config.data.SHUTDOWN_GRACE_MS);
    expect(graceMs).toBeGreaterThan(0);
    for (const d of deployments) {
      const spec = d.spec.template.spec;
      expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(graceMs);
      expect(spec.securityContext.runAsNonRoot).toBe(true);
      expect(spec.securityContext.runAsUser).not.toBe(0);
      const [c] = spec.containers;
      const ports = c.ports.flatMap((p: Doc) => [p.name, p.containerPort]);
      expect(c.readinessProbe.httpGet.path).toBe("/readyz");
      expect(c.livenessProbe.httpGet.path).toBe("/healthz");
      for (const probe of [c.readinessProbe, c.livenessProbe]) expect(ports).toContain(probe.httpGet.port);
    }
  });

  test("env comes from the ConfigMap and the Secret, production, with every referenced key present", () => {
    expect(config.data.NODE_ENV).toBe("production");
    expect(config.data.REDIS_URL ?? config.data.REDIS_CLUSTER_NODES).toBeTruthy();
    for (const d of deployments) {
      const [c] = d.spec.template.spec.containers;
      expect(c.envFrom.map((e: Doc) => e.configMapRef?.name)).toContain(config.metadata.name);
      const fromSecret = c.env.filter((e: Doc) => e.valueFrom?.secretKeyRef);
      expect(fromSecret.map((e: Doc) => e.name).sort()).toEqual(["ADMIN_API_KEY", "DATABASE_URL"]);
      for (const e of fromSecret) {
        expect(e.valueFrom.secretKeyRef.name).toBe(secret.metadata.name);
        expect(secret.stringData).toHaveProperty(e.valueFrom.secretKeyRef.key);
      }
    }
    expect(secret.stringData.ADMIN_API_KEY.length).toBeGreaterThanOrEqual(16);
  });

  test("Services select their Deployment's pods and reach a named container port", () => {
    for (const s of ofKind("Service")) {
      const d = deployments.find((x) => matches(s.spec.selector, x.spec.template.metadata.labels));
      expect(d).toBeDefined();
      const names = d.spec.template.spec.containers[0].ports.map((p: Doc) => p.name);
      for (const p of s.spec.ports) expect(names).toContain(p.targetPort);
    }
  });

  test("the PodDisruptionBudget selects the worker pods and no others", () => {
    const [pdb] = ofKind("PodDisruptionBudget");
    expect(pdb.apiVersion).toBe("policy/v1");
    const selected = deployments.filter((d) => matches(pdb.spec.selector.matchLabels, d.spec.template.metadata.labels));
    expect(selected.map((d) => d.metadata.name)).toEqual([deployment("worker").metadata.name]);
    expect(pdb.spec.maxUnavailable ?? pdb.spec.minAvailable).toBeDefined();
  });

  test("KEDA scales the worker Deployment from GET /v1/scaling with a bearer token from the Secret", () => {
    const [scaled] = ofKind("ScaledObject");
    expect(scaled.apiVersion).toBe("keda.sh/v1alpha1");
    expect(scaled.spec.scaleTargetRef.name).toBe(deployment("worker").metadata.name);
    expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(scaled.spec.maxReplicaCount).toBeGreaterThan(scaled.spec.minReplicaCount);
    // The worker Deployment leaves its count to KEDA, so re-applying it does not undo a scale.
    expect(deployment("worker").spec.replicas).toBeUndefined();

    const [trigger] = scaled.spec.triggers;
    expect(trigger.type).toBe("metrics-api");
    expect(trigger.metricType ?? "AverageValue").toBe("AverageValue");
    const url = new URL(trigger.metadata.url);
    expect(url.pathname).toBe("/v1/scaling");
    // http://<service>.<namespace>.svc...:<port>: KEDA's operator runs in another namespace.
    const [serviceName, namespace] = url.hostname.split(".");
    const api = ofKind("Service").find((s) => s.metadata.name === serviceName);
    expect(api.spec.selector["app.kubernetes.io/component"]).toBe("api");
    expect(namespace).toBe(api.metadata.namespace);
    expect(api.spec.ports.map((p: Doc) => p.port)).toContain(Number(url.port));
    // The value it reads is a field of what the route answers.
    const signal = computeScaling({
      backlog: 0,
      arrivals: 0,
      arrivalSeconds: 1,
      completions: 0,
      completionSeconds: 1,
      nodeSeconds: 0,
      activeNodes: 0,
      targetDrainSeconds: 60,
    });
    expect(["desiredNodes", "backlog"]).toContain(trigger.metadata.valueLocation);
    expect(signal).toHaveProperty(trigger.metadata.valueLocation);
    expect(Number(trigger.metadata.targetValue)).toBeGreaterThan(0);

    expect(trigger.metadata.authMode).toBe("bearer");
    const auth = ofKind("TriggerAuthentication").find((t) => t.metadata.name === trigger.authenticationRef.name);
    expect(auth).toBeDefined();
    const [ref] = auth.spec.secretTargetRef;
    expect(ref.parameter).toBe("token");
    expect(ref.name).toBe(secret.metadata.name);
    expect(secret.stringData).toHaveProperty(ref.key);
  });
});

describe("infra/Dockerfile", () => {
  const lines = readFileSync(join(infra, "Dockerfile"), "utf8")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const stages: { from: string; name: string | undefined; lines: string[] }[] = [];
  for (const l of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(l);
    if (from) stages.push({ from: from[1] as string, name: from[2], lines: [] });
    else stages.at(-1)?.lines.push(l);
  }
  const final = stages.at(-1);
  if (!final) throw new Error("no stage in the Dockerfile");
  const workspaceDirs = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")).workspaces as string[]).flatMap(
    (w) =>
      w.endsWith("/*")
        ? readdirSync(join(root, w.slice(0, -2)), { withFileTypes: true })
            .filter((e) => e.isDirectory() && existsSync(join(root, w.slice(0, -2), e.name, "package.json")))
            .map((e) => `${w.slice(0, -2)}/${e.name}`)
        : [w],
  );

  test("multi-stage on the official Bun image of the pinned version", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const pinned = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).packageManager.replace("bun@", "");
    for (const s of stages) expect(s.from).toBe(`oven/bun:${pinned}`);
  });

  test("installs from the lockfile, frozen, with every workspace's package.json copied first", () => {
    const install = stages.find((s) => s.lines.some((l) => /^RUN .*bun install/.test(l)));
    if (!install) throw new Error("no bun install");
    const run = install.lines.find((l) => l.startsWith("RUN") && l.includes("bun install")) as string;
    expect(run).toContain("--frozen-lockfile");
    expect(run).toContain("--production");
    const copied = install.lines
      .filter((l) => l.startsWith("COPY "))
      .flatMap((l) => l.split(/\s+/).slice(1, -1))
      .filter((a) => !a.startsWith("--"));
    for (const f of ["package.json", "bun.lock"]) expect(copied).toContain(f);
    for (const w of workspaceDirs) expect(copied).toContain(`${w}/package.json`);
    // Patched dependencies: without the patch files the frozen install fails.
    const patched = Object.values(
      (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { patchedDependencies?: Record<string, string> })
        .patchedDependencies ?? {},
    );
    for (const p of patched) expect(copied.some((c) => p === c || p.startsWith(`${c.replace(/\/$/, "")}/`))).toBe(true);
    for (const f of copied) expect(existsSync(join(root, f))).toBe(true);
    // The final stage takes the installed tree from it.
    expect(final.lines.some((l) => l.startsWith(`COPY --from=${install.name} `))).toBe(true);
  });

  test("the final stage copies the sources the apps import, runs as a user other than root, and its CMD exists", () => {
    const sources = final.lines
      .filter((l) => l.startsWith("COPY ") && !l.includes("--from="))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    for (const dir of ["apps", "packages"]) expect(sources).toContain(dir);
    for (const s of sources) expect(existsSync(join(root, s))).toBe(true);
    const user = final.lines.filter((l) => l.startsWith("USER ")).at(-1);
    expect(user).toBeDefined();
    expect(["root", "0", "0:0", "root:root"]).not.toContain((user as string).split(/\s+/)[1]);
    const cmd = final.lines.filter((l) => l.startsWith("CMD ")).at(-1) as string;
    expectAppCommand(JSON.parse(cmd.slice(4)));
    expect(final.lines).toContain("ENV NODE_ENV=production");
  });

  test(".dockerignore keeps node_modules and local state out, and nothing the Dockerfile copies", () => {
    const patterns = readFileSync(join(root, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    for (const p of ["**/node_modules", ".data", ".git"]) expect(patterns).toContain(p);
    const ignored = (path: string) => {
      let out = false;
      for (const p of patterns) {
        const negated = p.startsWith("!");
        const glob = new Bun.Glob(negated ? p.slice(1) : p);
        // A pattern that matches a folder of the path ignores it too.
        const parts = path.split("/");
        const hit = parts.some((_, i) => glob.match(parts.slice(0, i + 1).join("/")));
        if (hit) out = !negated;
      }
      return out;
    };
    const copied = stages.flatMap((s) =>
      s.lines
        .filter((l) => l.startsWith("COPY ") && !l.includes("--from="))
        .flatMap((l) => l.split(/\s+/).slice(1, -1)),
    );
    expect(copied.filter(ignored)).toEqual([]);
    for (const entry of ["apps/api/src/index.ts", "apps/monitor/web/index.html", "packages/db/drizzle"]) {
      expect(ignored(entry)).toBe(false);
    }
    expect(ignored("node_modules/hono/package.json")).toBe(true);
    expect(ignored("apps/api/node_modules/hono")).toBe(true);
  });
});
