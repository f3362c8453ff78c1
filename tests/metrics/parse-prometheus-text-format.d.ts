declare module "parse-prometheus-text-format" {
  /** One sample of a counter, gauge or untyped family; values stay strings as written ("+Inf", "1e3"). */
  export interface Sample {
    value: string;
    labels?: Record<string, string>;
  }

  /** One series of a histogram: its cumulative buckets keyed by `le`, with count and sum. */
  export interface HistogramSample {
    buckets: Record<string, string>;
    count: string;
    sum: string;
    labels?: Record<string, string>;
  }

  export interface MetricFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: (Sample | HistogramSample)[];
  }

  /** Parses the Prometheus text exposition format (0.0.4) into families, as prom2json does. */
  export default function parsePrometheusTextFormat(text: string): MetricFamily[];
}
