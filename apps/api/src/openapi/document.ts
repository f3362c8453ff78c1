import { z } from "zod";
import { type Access, type Operation, type ResponseSpec, TAGS } from "./operations.ts";
import { ErrorBody, NAMED_SCHEMAS } from "./schemas.ts";

type JsonSchema = Record<string, unknown>;

export interface DocumentInfo {
  title: string;
  version: string;
  description: string;
}

const COMPONENTS = "#/components/schemas/";

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No content",
  400: "validation_failed: the body or query does not match its schema, or the JSON is malformed or too deep",
  401: "unauthorized: no key or session, or not a valid one",
  413: "payload_too_large: the body is over MAX_BODY_BYTES",
  415: "unsupported_media_type: the body is not application/json",
};

/**
 * Tidies zod's output for reading: `format` already names what zod's long regex checks
 * (`date-time`, `uuid`), and `.int()` adds the safe-integer bounds to every integer.
 */
function tidy(ctx: { jsonSchema: JsonSchema }): void {
  const s = ctx.jsonSchema;
  if (typeof s.format === "string" && typeof s.pattern === "string") delete s.pattern;
  if (s.maximum === Number.MAX_SAFE_INTEGER) delete s.maximum;
  if (s.minimum === Number.MIN_SAFE_INTEGER) delete s.minimum;
}

// Requests are described as clients send them (`input`: before defaults and transforms);
// answers carry no transforms, so the same mode describes them and keeps their objects open.
// Unrepresentable types throw: a schema the document cannot show is a bug for the tests to find.
const CONVERT = { io: "input", override: tidy } as const;

/** One schema converted on its own (query and path parameters), without the `$schema` line. */
function standalone(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, CONVERT) as JsonSchema;
  return rest;
}

/** Points every `$ref` in `value` through `rename`. */
function renameRefs(value: unknown, rename: (ref: string) => string): void {
  if (Array.isArray(value)) for (const v of value) renameRefs(v, rename);
  else if (value && typeof value === "object") {
    const obj = value as JsonSchema;
    for (const [k, v] of Object.entries(obj)) {
      if (k === "$ref" && typeof v === "string") obj[k] = rename(v);
      else renameRefs(v, rename);
    }
  }
}

/**
 * Converts the registry into `components.schemas`. zod writes each entry as a document of its own
 * (`$schema`, `$id`) and puts recursive parts (`z.json()`, `z.lazy`) in a `__shared` document;
 * here they all become plain components, refs rewritten to match.
 */
function components(registry: z.core.$ZodRegistry<{ id: string }>): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(registry, { ...CONVERT, uri: (id) => `${COMPONENTS}${id}` }) as {
    schemas: Record<string, JsonSchema>;
  };
  const out: Record<string, JsonSchema> = {};
  const sharedName = (id: string) => `Shared_${id}`;
  for (const [id, schema] of Object.entries(schemas)) {
    const { $schema: _s, $id: _i, ...rest } = schema;
    if (id !== "__shared") out[id] = rest;
    else
      for (const [def, s] of Object.entries((rest.$defs ?? {}) as Record<string, JsonSchema>)) out[sharedName(def)] = s;
  }
  const shared = `${COMPONENTS}__shared#/$defs/`;
  renameRefs(out, (ref) => (ref.startsWith(shared) ? `${COMPONENTS}${sharedName(ref.slice(shared.length))}` : ref));
  return out;
}

function security(scope: Access) {
  if (scope === "none") return [];
  // OpenAPI 3.1 lets a non-OAuth requirement list the roles it needs: here, the key's scope.
  return [{ bearerAuth: scope === "any" ? [] : [scope] }];
}

/** The input-checking and auth errors every route of its kind can answer, unless it says otherwise. */
function impliedResponses(op: Operation): Record<number, ResponseSpec> {
  const implied: Record<number, ResponseSpec> = {};
  if (op.request || op.query) implied[400] = STATUS_TEXT[400] as string;
  if (op.scope !== "none") implied[401] = STATUS_TEXT[401] as string;
  if (op.scope !== "none" && op.scope !== "any") implied[403] = `forbidden: the key lacks the '${op.scope}' scope`;
  if (op.request) {
    implied[413] = STATUS_TEXT[413] as string;
    implied[415] = STATUS_TEXT[415] as string;
  }
  return implied;
}

const PATH_PARAM = /\{([^}]+)\}/g;

function parameters(op: Operation): JsonSchema[] {
  const params = op.params ? standalone(op.params) : { properties: {} };
  const described = (params.properties ?? {}) as Record<string, JsonSchema>;
  const inPath = [...op.path.matchAll(PATH_PARAM)].map((m) => m[1] as string);
  for (const name of Object.keys(described)) {
    if (!inPath.includes(name)) throw new Error(`${op.operationId}: parameter '${name}' is not in ${op.path}`);
  }
  const list: JsonSchema[] = inPath.map((name) => {
    const { description, ...schema } = described[name] ?? { type: "string" };
    return { name, in: "path", required: true, ...(description ? { description } : {}), schema };
  });
  if (op.query) {
    const query = standalone(op.query);
    const required = (query.required ?? []) as string[];
    for (const [name, prop] of Object.entries((query.properties ?? {}) as Record<string, JsonSchema>)) {
      const { description, ...schema } = prop;
      list.push({
        name,
        in: "query",
        required: required.includes(name),
        ...(description ? { description } : {}),
        schema,
      });
    }
  }
  return list;
}

/** Builds an OpenAPI 3.1 document from operations whose schemas are zod's. */
export function buildOpenApiDocument(operations: readonly Operation[], info: DocumentInfo): JsonSchema {
  const registry = z.registry<{ id: string }>();
  const names = new Map<z.ZodType, string>();
  const taken = new Set<string>();
  /** A `$ref` to the schema's component, registering it (named after `fallback` when not a named schema). */
  const ref = (schema: z.ZodType, fallback: string) => {
    let id = names.get(schema);
    if (!id) {
      if (taken.has(fallback)) throw new Error(`two schemas are named '${fallback}'`);
      id = fallback;
      names.set(schema, id);
      taken.add(id);
      registry.add(schema, { id });
    }
    return { $ref: `${COMPONENTS}${id}` };
  };
  for (const [name, schema] of Object.entries(NAMED_SCHEMAS)) ref(schema, name);

  const response = (op: Operation, status: number, spec: ResponseSpec) => {
    const json = (schema: z.ZodType) => ({
      content: { "application/json": { schema: ref(schema, `${capitalize(op.operationId)}${status}`) } },
    });
    if (typeof spec === "string")
      return status >= 400 ? { description: spec, ...json(ErrorBody) } : { description: spec };
    if (spec instanceof z.ZodType)
      return { description: spec.description ?? STATUS_TEXT[status] ?? "Answer", ...json(spec) };
    return { description: spec.description, ...json(spec.schema) };
  };

  const paths: Record<string, Record<string, unknown>> = {};
  const routes = new Set<string>();
  const ids = new Set<string>();
  for (const op of operations) {
    const key = `${op.method} ${op.path}`;
    if (routes.has(key) || ids.has(op.operationId)) throw new Error(`${key} (${op.operationId}) is described twice`);
    routes.add(key);
    ids.add(op.operationId);
    const responses = { ...impliedResponses(op), ...op.responses };
    const params = parameters(op);
    const item = (paths[op.path] ??= {});
    item[op.method] = {
      operationId: op.operationId,
      tags: [op.tag],
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      "x-scope": op.scope,
      security: security(op.scope),
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(op.request
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: ref(op.request, `${capitalize(op.operationId)}Body`) } },
            },
          }
        : {}),
      responses: Object.fromEntries(
        Object.entries(responses)
          .sort(([a], [b]) => Number(a) - Number(b))
          .map(([status, spec]) => [status, response(op, Number(status), spec)]),
      ),
    };
  }

  return {
    openapi: "3.1.0",
    info,
    tags: TAGS.map((t) => ({ ...t })),
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description:
            "`Authorization: Bearer <key>`. A key belongs to a tenant and holds scopes: `tasks:read`, " +
            "`tasks:write` (includes read) and `admin` (every tenant and scope). Each operation lists the scope it needs. " +
            "A browser may send the `conveyor_session` cookie from `POST /v1/sessions` instead.",
        },
      },
      schemas: components(registry),
    },
  };
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
