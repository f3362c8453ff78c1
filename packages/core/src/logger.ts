import pino, { type Logger } from "pino";

export type { Logger };

/**
 * A structured logger. Paths that could carry secrets or user data are redacted wherever they
 * appear, so a careless `log.info({req})` still never prints a key, a cookie or a payload.
 */
export function createLogger(name: string, level = "info"): Logger {
  return pino({
    name,
    level,
    base: { app: name },
    redact: {
      paths: [
        "authorization",
        "*.authorization",
        "headers.authorization",
        "*.headers.authorization",
        "headers.cookie",
        "*.headers.cookie",
        "cookie",
        "*.cookie",
        "apiKey",
        "*.apiKey",
        "key",
        "*.key",
        "payload",
        "*.payload",
        "result",
        "*.result",
        "password",
        "*.password",
      ],
      censor: "[redacted]",
    },
  });
}
