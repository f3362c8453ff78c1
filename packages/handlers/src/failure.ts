/**
 * A handler's way to fail with a code of its own (`unexpected_status`, `forbidden_destination`)
 * and to say whether another attempt could help. Anything else thrown is `handler_error`, retried.
 */
export class TaskFailure extends Error {
  override name = "TaskFailure";
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = true,
  ) {
    super(message);
  }
}
