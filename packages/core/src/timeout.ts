/** A call that did not answer in time. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** Settles as `promise` does, or rejects with TimeoutError after `ms`. The promise itself runs on. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = "operation"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
