import { type Logger, type Principal, RateLimitedError, type RedisClient, whenReady } from "@conveyor/core";

/**
 * One check, atomic in Redis. KEYS[1]: the key's sorted set of submissions (member: a unique
 * id, score: when, in ms). ARGV: max, durationMs, cost, call id. Answers 0 when `cost` more fit
 * in the window (and records them), else the ms until enough old entries leave it (recording
 * nothing, so a refused request costs nothing), or -1 when `cost` exceeds `max` and never fits.
 *
 * The time is Redis's own (TIME), not the caller's: every API process shares that one clock, so
 * processes whose clocks disagree still see one window. Redis 5+ replicates a script by its
 * effects, so reading the clock before writing is allowed.
 */
const SLIDING_WINDOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count + cost <= max then
  local args = {}
  for i = 1, cost do
    args[#args + 1] = now
    args[#args + 1] = ARGV[4] .. ':' .. i
    if #args >= 1000 or i == cost then
      redis.call('ZADD', KEYS[1], unpack(args))
      args = {}
    end
  end
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
if cost > max then return -1 end
local need = count + cost - max
local oldest = redis.call('ZRANGE', KEYS[1], need - 1, need - 1, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return wait
`;

const COMMAND = "conveyorSlidingWindow";

type WithCommand = RedisClient & {
  [COMMAND](key: string, max: number, durationMs: number, cost: number, callId: string): Promise<number>;
};

/** What a granted check spent, to give back when the submission fails after all. */
export interface Spent {
  refund(): Promise<void>;
}

const NOTHING: Spent = { refund: async () => {} };

/** A batch larger than the key's whole window: waiting never helps, so the message says so. */
export class OverRateLimitError extends RateLimitedError {
  override name = "OverRateLimitError";
  constructor(cost: number, max: number, retryAfterSeconds: number) {
    super(retryAfterSeconds);
    this.message = `${cost} tasks are more than this key may submit in one window (${max}); send smaller batches`;
  }
}

/** Limits what a caller may submit (`POST /v1/tasks`, `/v1/tasks/batch`). */
export interface SubmissionLimiter {
  /** Spends `cost` of the principal's window, or throws `RateLimitedError` (429) having spent nothing. */
  consume(principal: Principal, cost: number): Promise<Spent>;
}

/** No limit at all (an app built without Redis, as some tests build it). */
export const unlimited: SubmissionLimiter = { consume: async () => NOTHING };

/** Runs `submit` within the principal's limit; a submission that fails (404, 409, 503...) costs nothing. */
export async function withinLimit<T>(
  limiter: SubmissionLimiter,
  principal: Principal,
  cost: number,
  submit: () => Promise<T>,
): Promise<T> {
  const spent = await limiter.consume(principal, cost);
  try {
    return await submit();
  } catch (err) {
    await spent.refund();
    throw err;
  }
}

const WARN_EVERY_MS = 30_000;
const CHECK_TIMEOUT_MS = 1000;

/**
 * A sliding window per key in Redis, shared by every API process: `<prefix>:ratelimit:<keyId>`,
 * one key (so one cluster slot). Keys without a limit, and the bootstrap admin, are not limited.
 *
 * When Redis does not answer, submissions are let through (fail open): the ledger takes them
 * anyway (the reconciler queues them later), and refusing every submission during an outage
 * would hurt more than a window briefly not being enforced. A warning is logged at most every 30 s.
 */
export class RedisRateLimiter implements SubmissionLimiter {
  private readonly redis: WithCommand;
  private lastWarnAt = 0;
  private skipped = 0;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: SLIDING_WINDOW });
    this.redis = redis as WithCommand;
  }

  private key(keyId: string): string {
    return `${this.prefix}:ratelimit:${keyId}`;
  }

  async consume(principal: Principal, cost: number): Promise<Spent> {
    const limit = principal.rateLimit;
    if (!limit || principal.keyId === null || cost < 1) return NOTHING;
    const key = this.key(principal.keyId);
    const callId = crypto.randomUUID();
    let waitMs: number;
    try {
      waitMs = await whenReady(
        this.redis,
        () => this.redis[COMMAND](key, limit.max, limit.durationMs, cost, callId),
        CHECK_TIMEOUT_MS,
      );
    } catch (err) {
      this.failOpen(err);
      return NOTHING;
    }
    if (waitMs === -1) throw new OverRateLimitError(cost, limit.max, Math.ceil(limit.durationMs / 1000));
    if (waitMs > 0) throw new RateLimitedError(Math.max(1, Math.ceil(waitMs / 1000)));
    return {
      refund: async () => {
        const members = Array.from({ length: cost }, (_, i) => `${callId}:${i + 1}`);
        // Best effort: an entry left behind only means the key waits a little longer.
        await whenReady(this.redis, () => this.redis.zrem(key, ...members), CHECK_TIMEOUT_MS).catch(() => {});
      },
    };
  }

  private failOpen(err: unknown): void {
    this.skipped++;
    const now = Date.now();
    if (now - this.lastWarnAt < WARN_EVERY_MS) return;
    this.lastWarnAt = now;
    this.log.warn(
      { err: err instanceof Error ? err.message : String(err), skipped: this.skipped },
      "rate limits not enforced: Redis did not answer the check, submissions are let through",
    );
    this.skipped = 0;
  }
}
