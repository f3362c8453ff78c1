/** What serving a Prometheus registry needs of it (prom-client's `Registry` has both). */
export interface MetricsSource {
  metrics(): Promise<string>;
  contentType: string;
}

/** The answer to `GET /metrics`: the registry in Prometheus text format, never cached. */
export async function metricsResponse(registry: MetricsSource): Promise<Response> {
  return new Response(await registry.metrics(), {
    status: 200,
    headers: { "Content-Type": registry.contentType, "Cache-Control": "no-store" },
  });
}
