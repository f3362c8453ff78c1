import { z } from "zod";

/** At most this many steps: each one walks every row, and the task has 60 s by default. */
export const MAX_TRANSFORMATIONS = 50;

/** Names joined by dots (`user.country`); an empty name would address nothing. */
const fieldPath = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^.]+(\.[^.]+)*$/, "a field is a name or names joined by dots, none empty");

/** Filter values are JSON scalars: they are compared with row values, never run. */
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const filterOp = { op: z.literal("filter"), field: fieldPath };

const filter = z.discriminatedUnion("operator", [
  z.strictObject({ ...filterOp, operator: z.enum(["eq", "ne", "contains"]), value: scalar }),
  z.strictObject({
    ...filterOp,
    operator: z.enum(["gt", "gte", "lt", "lte"]),
    value: z.union([z.string(), z.number()]),
  }),
  z.strictObject({ ...filterOp, operator: z.literal("in"), value: z.array(scalar).max(1000) }),
  z.strictObject({ ...filterOp, operator: z.literal("exists"), value: z.boolean() }),
]);

const select = z.strictObject({ op: z.literal("select"), fields: z.array(fieldPath).min(1).max(200) });

const rename = z.strictObject({ op: z.literal("rename"), from: fieldPath, to: fieldPath });

const sort = z.strictObject({ op: z.literal("sort"), by: fieldPath, order: z.enum(["asc", "desc"]).default("asc") });

const limit = z.strictObject({ op: z.literal("limit"), count: z.number().int().min(0) });

const dedupe = z.strictObject({
  op: z.literal("dedupe"),
  by: z.union([fieldPath, z.array(fieldPath).min(1).max(20)]),
});

const metric = z.discriminatedUnion("fn", [
  z.strictObject({ fn: z.literal("count"), field: fieldPath.optional(), as: fieldPath }),
  z.strictObject({ fn: z.enum(["sum", "avg", "min", "max"]), field: fieldPath, as: fieldPath }),
]);

/** True when writing both paths into one object would make one overwrite the other. */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
}

const aggregate = z
  .strictObject({
    op: z.literal("aggregate"),
    groupBy: z.array(fieldPath).max(20),
    metrics: z.array(metric).max(50),
  })
  .superRefine((step, ctx) => {
    if (step.groupBy.length === 0 && step.metrics.length === 0) {
      ctx.addIssue({ code: "custom", path: ["metrics"], message: "give at least one groupBy field or one metric" });
    }
    // Output names are checked here, at submit, rather than silently clobbering each other per row.
    const outputs = [
      ...step.groupBy.map((f, i) => ({ f, path: ["groupBy", i] })),
      ...step.metrics.map((m, i) => ({ f: m.as, path: ["metrics", i, "as"] })),
    ];
    for (let i = 1; i < outputs.length; i++) {
      const here = outputs[i] as (typeof outputs)[number];
      const clash = outputs.slice(0, i).find((o) => overlaps(o.f, here.f));
      if (clash) {
        ctx.addIssue({ code: "custom", path: here.path, message: `output '${here.f}' overlaps '${clash.f}'` });
      }
    }
  });

/** One step of a `data_processing` task, told apart by `op`. */
export const transformationSchema = z.discriminatedUnion("op", [
  filter,
  select,
  rename,
  sort,
  limit,
  dedupe,
  aggregate,
]);

export const SOURCE_FORMATS = ["json", "ndjson", "csv"] as const;
export const OUTPUT_FORMATS = ["json", "csv", "ndjson"] as const;

/** The `data_processing` payload. */
export const dataProcessingPayloadSchema = z.strictObject({
  sourceUrl: z.url({ protocol: /^https?$/, normalize: true }).max(2048),
  sourceFormat: z.enum(SOURCE_FORMATS).optional(),
  transformations: z.array(transformationSchema).max(MAX_TRANSFORMATIONS),
  outputFormat: z.enum(OUTPUT_FORMATS),
});

export type Transformation = z.output<typeof transformationSchema>;
export type FilterStep = z.output<typeof filter>;
export type AggregateStep = z.output<typeof aggregate>;
export type Metric = z.output<typeof metric>;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export type DataProcessingPayload = z.output<typeof dataProcessingPayloadSchema>;
