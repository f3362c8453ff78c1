/** One detail of a validation error: where, what kind, and a human sentence. */
export interface ErrorDetail {
  path: (string | number)[];
  code: string;
  message: string;
}

/**
 * The one error type that crosses layers. Its `code` and `status` are the contract's
 * (`validation_failed` 400, `not_found` 404, ...); the API turns it into
 * `{"error": {code, message, details}}`.
 */
export class ConveyorError extends Error {
  override name = "ConveyorError";
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

export class ValidationError extends ConveyorError {
  override name = "ValidationError";
  constructor(message: string, details: ErrorDetail[] = []) {
    super("validation_failed", 400, message, details);
  }
}

export class UnauthorizedError extends ConveyorError {
  override name = "UnauthorizedError";
  constructor(message = "a valid API key or session is required") {
    super("unauthorized", 401, message);
  }
}

export class ForbiddenError extends ConveyorError {
  override name = "ForbiddenError";
  constructor(message = "this key may not do that") {
    super("forbidden", 403, message);
  }
}

export class NotFoundError extends ConveyorError {
  override name = "NotFoundError";
  constructor(message = "not found") {
    super("not_found", 404, message);
  }
}

export class UnknownTaskTypeError extends ConveyorError {
  override name = "UnknownTaskTypeError";
  constructor(readonly type: string) {
    super("unknown_task_type", 404, `unknown task type '${type}'`);
  }
}

export class ConflictError extends ConveyorError {
  override name = "ConflictError";
  constructor(message: string) {
    super("conflict", 409, message);
  }
}

export class PayloadTooLargeError extends ConveyorError {
  override name = "PayloadTooLargeError";
  constructor(limit: number) {
    super("payload_too_large", 413, `the body is larger than ${limit} bytes`);
  }
}

export class UnsupportedMediaTypeError extends ConveyorError {
  override name = "UnsupportedMediaTypeError";
  constructor() {
    super("unsupported_media_type", 415, "send the body as application/json");
  }
}

export class RateLimitedError extends ConveyorError {
  override name = "RateLimitedError";
  constructor(readonly retryAfterSeconds: number) {
    super("rate_limited", 429, `rate limit reached; retry in ${retryAfterSeconds} s`);
  }
}

/** A dependency (PostgreSQL, Redis) cannot be reached: nothing was accepted. */
export class UnavailableError extends ConveyorError {
  override name = "UnavailableError";
  constructor(message: string) {
    super("unavailable", 503, message);
  }
}
