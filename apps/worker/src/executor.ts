import type { TaskError } from "@conveyor/core";
import type { TaskContext, TaskType } from "@conveyor/handlers";

/** Why a run's signal aborted. */
export class TimeoutReason extends Error {
  override name = "TimeoutReason";
  constructor(readonly timeoutMs: number) {
    super(`the task ran past its timeout of ${timeoutMs} ms`);
  }
}

export class CancelReason extends Error {
  override name = "CancelReason";
  constructor(message = "the task was cancelled") {
    super(message);
  }
}

export class ShutdownReason extends Error {
  override name = "ShutdownReason";
  constructor() {
    super("the node is shutting down");
  }
}

export type RunOutcome =
  | { kind: "completed"; result: unknown }
  | {
      kind: "failed";
      outcome: "failed" | "timed_out" | "cancelled" | "interrupted";
      error: TaskError;
      retryable: boolean;
    };

/**
 * Runs one attempt of a handler under a timeout and the job's cancel signal. Whatever the
 * handler does, the answer is an outcome: a handler that ignores its signal is still left
 * behind at the deadline, so a timeout always ends the attempt on time.
 */
export async function execute(
  type: TaskType,
  payload: unknown,
  ctx: Omit<TaskContext, "signal">,
  opts: { timeoutMs: number; cancel?: AbortSignal; shutdown?: AbortSignal },
): Promise<RunOutcome> {
  const parsed = type.schema.safeParse(payload);
  if (!parsed.success) {
    return {
      kind: "failed",
      outcome: "failed",
      error: { code: "invalid_payload", message: parsed.error.issues[0]?.message ?? "invalid payload" },
      retryable: false,
    };
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TimeoutReason(opts.timeoutMs)), opts.timeoutMs);
  const forward = (signal: AbortSignal | undefined, reason: () => Error) => {
    if (!signal) return () => {};
    const onAbort = () => controller.abort(reason());
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    return () => signal.removeEventListener("abort", onAbort);
  };
  const unCancel = forward(opts.cancel, () => new CancelReason(cancelMessage(opts.cancel?.reason)));
  const unShutdown = forward(opts.shutdown, () => new ShutdownReason());
  const aborted = new Promise<never>((_, reject) => {
    if (controller.signal.aborted) reject(controller.signal.reason);
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
  });
  try {
    const result = await Promise.race([type.run(parsed.data, { ...ctx, signal: controller.signal }), aborted]);
    const unstorable = unstorableResult(result ?? null);
    if (unstorable) {
      // Running it again would give the same result: no retry.
      return {
        kind: "failed",
        outcome: "failed",
        error: { code: "invalid_result", message: `the handler's result cannot be stored: ${unstorable}` },
        retryable: false,
      };
    }
    return { kind: "completed", result: result ?? null };
  } catch (err) {
    const reason = controller.signal.aborted ? controller.signal.reason : err;
    return failure(reason);
  } finally {
    clearTimeout(timer);
    unCancel();
    unShutdown();
  }
}

// In JSON.stringify's output (which escapes only lone surrogates), an escaped U+0000 or surrogate
// that is not itself an escaped backslash followed by "u".
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/**
 * Why PostgreSQL cannot keep `result` as jsonb (not JSON; U+0000 or an unpaired surrogate in a
 * string), or null. Such a result reaching the ledger write would throw there, and the attempt
 * would stay `running` for good on a live node.
 */
export function unstorableResult(result: unknown): string | null {
  let json: string | undefined;
  try {
    json = JSON.stringify(result);
  } catch (err) {
    return `it is not JSON (${err instanceof Error ? err.message : "it cannot be serialised"})`;
  }
  if (json !== undefined && UNSTORABLE_ESCAPE.test(json)) {
    return "a string holds U+0000 or an unpaired surrogate";
  }
  return null;
}

/**
 * An error message as the ledger can keep it: at most 2000 characters, no U+0000, no unpaired
 * surrogate (the cut may split a pair). Else the write of the attempt's end would throw.
 */
function storableText(text: string): string {
  return text.slice(0, 2000).replaceAll("\u0000", "").toWellFormed();
}

/** The message a cancel's reason gives, if it says more than `abort()`'s default AbortError. */
function cancelMessage(reason: unknown): string | undefined {
  if (typeof reason === "string") return reason || undefined;
  if (reason instanceof Error && reason.name !== "AbortError") return reason.message || undefined;
  return undefined;
}

function failure(reason: unknown): RunOutcome {
  if (reason instanceof TimeoutReason) {
    return {
      kind: "failed",
      outcome: "timed_out",
      error: { code: "timed_out", message: reason.message },
      retryable: true,
    };
  }
  if (reason instanceof CancelReason) {
    return {
      kind: "failed",
      outcome: "cancelled",
      error: { code: "cancelled", message: reason.message },
      retryable: false,
    };
  }
  if (reason instanceof ShutdownReason) {
    return {
      kind: "failed",
      outcome: "interrupted",
      error: { code: "interrupted", message: reason.message },
      retryable: true,
    };
  }
  try {
    const err = reason as { code?: unknown; message?: unknown; retryable?: unknown } | undefined;
    const code = typeof err?.code === "string" && /^[a-z_]+$/.test(err.code) ? err.code : "handler_error";
    const message = storableText(typeof err?.message === "string" ? err.message : String(reason));
    return { kind: "failed", outcome: "failed", error: { code, message }, retryable: err?.retryable !== false };
  } catch {
    // A thrown value that throws when read (a Proxy, an object without a prototype): had this
    // thrown on, the attempt would have stayed `running` forever on a live node.
    return {
      kind: "failed",
      outcome: "failed",
      error: { code: "handler_error", message: "the handler threw a value that cannot be read" },
      retryable: true,
    };
  }
}
