/** Which destinations outbound requests may reach. */
export interface OutboundPolicy {
  /**
   * Host names (`SSRF_ALLOW_HOSTS`) that may resolve to private or loopback addresses; matched
   * exactly, case-insensitively, ignoring a trailing dot.
   */
  allowHosts: string[];
}

export interface SafeFetchOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Aborts the request (the task's signal: timeout, cancel, shutdown). */
  signal: AbortSignal;
  /** Refuse (and stop reading) a response body larger than this. */
  maxBytes: number;
  /** Follow at most this many redirects; each one is checked again. */
  maxRedirects: number;
}

export interface SafeResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as text (UTF-8). */
  body: string;
  /** The URL that answered, after redirects. */
  url: string;
}

/** `safeFetch(url, opts)`: an HTTP(S) request that only ever connects to addresses the policy allows. */
export type SafeFetch = (url: string, opts: SafeFetchOptions) => Promise<SafeResponse>;
