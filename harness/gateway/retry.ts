/**
 * The router's retry policy and per-request retry state, as Envoy's router has them:
 *   - parsing: source/common/router/retry_policy_impl.cc (RetryPolicyImpl), retry_state_impl.cc
 *     (RetryStateImpl::parseRetryOn);
 *   - decisions: retry_state_impl.cc (shouldRetry, wouldRetryFromHeaders, wouldRetryFromReset);
 *   - back-off: source/common/common/backoff_strategy.cc (JitteredExponentialBackOffStrategy);
 *   - host choice on retries: source/extensions/retry/host/previous_hosts/previous_hosts.h,
 *     source/extensions/retry/priority/previous_priorities/previous_priorities.cc, and the load
 *     balancer's loop over hostSelectionRetryCount() + 1 picks (load_balancer_impl.cc chooseHost).
 * Our own code, written from reading those files.
 */
import type { HeaderList } from "../host/types.ts";
import type { Endpoint } from "./bootstrap.ts";

/** retry_on conditions the gateway models (Envoy's x-envoy-retry-on values). */
export const RETRY_ON = [
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
] as const;
export type RetryOn = (typeof RETRY_ON)[number];

/** Values Envoy knows but the gateway does not model (gRPC conditions, HTTP/3). */
export const RETRY_ON_NOT_MODELLED = [
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
  "http3-post-connect-failure",
] as const;

/** route.v3.HeaderMatcher, the subset the gateway accepts: name + present / exact. */
export interface HeaderMatch {
  name: string;
  exact?: string;
  /** present_match: true = the header is there, false = it is absent. Undefined with no exact = present. */
  present?: boolean;
  invert: boolean;
}

export interface RetryPolicyConfig {
  retryOn: Set<RetryOn>;
  /** num_retries, default 1 (PROTOBUF_GET_WRAPPED_OR_DEFAULT(retry_policy, num_retries, 1)). */
  numRetries: number;
  /** per_try_timeout, ms (0 = none). */
  perTryTimeoutMs: number;
  retriableStatusCodes: number[];
  retriableHeaders: HeaderMatch[];
  /** retry_back_off.base_interval (ms, at least 1), default 25 (runtime upstream.base_retry_backoff_ms). */
  baseIntervalMs?: number;
  /** retry_back_off.max_interval (ms), default 10 × base. */
  maxIntervalMs?: number;
  /** retry_host_predicate envoy.retry_host_predicates.previous_hosts. */
  previousHosts: boolean;
  /** retry_priority envoy.retry_priorities.previous_priorities update_frequency. */
  previousPrioritiesUpdateFrequency?: number;
  /** host_selection_retry_max_attempts, default 1 (RetryPolicyImpl host_selection_attempts_). */
  hostSelectionMaxAttempts: number;
}

/** Split as Envoy's StringUtil::splitToken(config, ",", false, true): trimmed, empty tokens dropped. */
export function retryOnTokens(text: string): string[] {
  return text.split(",").map((t) => t.trim()).filter((t) => t !== "");
}

function headerValue(headers: HeaderList, name: string): string | undefined {
  let out: string | undefined;
  for (const [k, v] of headers) if (k === name) out = out === undefined ? v : `${out},${v}`;
  return out;
}

/** Http::HeaderUtility::matchHeaders for the accepted subset. */
export function matchHeader(m: HeaderMatch, headers: HeaderList): boolean {
  const v = headerValue(headers, m.name);
  let hit: boolean;
  if (m.exact !== undefined) hit = v === m.exact;
  else if (m.present === false) hit = v === undefined;
  else hit = v !== undefined;
  return m.invert ? !hit : hit;
}

/** How an attempt failed without usable response headers (Http::StreamResetReason, coarse). */
export type ResetKind = "connect-failure" | "reset" | "per-try-timeout";

export type RetryStatus = "yes" | "no" | "limit-exceeded" | "overflow";

/** What the retry state needs from the cluster: the max_retries circuit breaker and the stats. */
export interface RetryCluster {
  /** ResourceManager retries(): canCreate / inc / dec. */
  retryBudget: { canCreate(): boolean; inc(): void; dec(): void };
  stat(name: string): void;
}

/**
 * One request's retry state (RetryStateImpl). `random` gives a non-negative integer, like Envoy's
 * Random::RandomGenerator::random().
 */
export class RetryState {
  private retriesRemaining: number;
  /** JitteredExponentialBackOffStrategy: next_interval_ starts at base, doubles up to max. */
  private nextIntervalMs: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  /** A retry is armed (backoff_callback_): it holds one unit of the cluster's max_retries budget. */
  private armed = false;
  private readonly attemptedHosts: Endpoint[] = [];
  /** previous_priorities: attempted hosts since the last reset, and the excluded levels. */
  private readonly priorityAttempts: Endpoint[] = [];
  private readonly excludedPriorities = new Set<number>();

  constructor(
    readonly policy: RetryPolicyConfig,
    private readonly cluster: RetryCluster,
    private readonly random: () => number,
  ) {
    this.retriesRemaining = policy.numRetries;
    this.baseMs = policy.baseIntervalMs ?? 25;
    this.maxMs = policy.maxIntervalMs ?? this.baseMs * 10;
    this.nextIntervalMs = this.baseMs;
  }

  /** backoff_strategy.cc nextBackOffMs: uniform in [0, interval), the interval doubling up to max. */
  nextBackOffMs(): number {
    const backoff = this.nextIntervalMs;
    this.nextIntervalMs = this.nextIntervalMs * 2 <= this.maxMs ? this.nextIntervalMs * 2 : this.maxMs;
    return Math.floor(this.random()) % backoff;
  }

  /** wouldRetryFromHeaders (retry_state_impl.cc), on the upstream's response headers. */
  wouldRetryFromHeaders(status: number, headers: HeaderList): boolean {
    const on = this.policy.retryOn;
    // An answer with x-envoy-ratelimited comes from an upstream Envoy: retried only under envoy-ratelimited.
    if (headerValue(headers, "x-envoy-ratelimited") !== undefined) return on.has("envoy-ratelimited");
    if (on.has("5xx") && status >= 500 && status < 600) return true;
    if (on.has("gateway-error") && (status === 502 || status === 503 || status === 504)) return true;
    if (on.has("retriable-4xx") && status === 409) return true;
    if (on.has("retriable-status-codes") && this.policy.retriableStatusCodes.includes(status)) return true;
    if (on.has("retriable-headers") && this.policy.retriableHeaders.some((m) => matchHeader(m, headers))) return true;
    return false;
  }

  /**
   * wouldRetryFromReset (retry_state_impl.cc). A per-try timeout resets the attempt with
   * LocalReset (router.cc onPerTryTimeoutCommon → maybeRetryReset), so it is retried under reset,
   * 5xx and gateway-error, not under connect-failure or retriable-status-codes.
   * `requestStarted`: a byte went upstream (reset-before-request retries only when none did).
   */
  wouldRetryFromReset(kind: ResetKind, requestStarted: boolean): boolean {
    const on = this.policy.retryOn;
    if (kind === "connect-failure" && on.has("connect-failure")) return true;
    if (on.has("reset-before-request") && !requestStarted) return true;
    if (on.has("reset")) return true;
    if (on.has("5xx") || on.has("gateway-error")) return true;
    // refused-stream: an HTTP/2 REFUSED_STREAM, which an HTTP/1.1 upstream never sends.
    return false;
  }

  /** shouldRetry (retry_state_impl.cc): counts, the retry limit, the max_retries circuit breaker. */
  shouldRetry(wouldRetry: boolean): RetryStatus {
    // A retry was armed and its attempt's outcome is not retried: the retry succeeded.
    if (this.armed && !wouldRetry) this.cluster.stat("upstream_rq_retry_success");
    this.release();
    if (!wouldRetry) return "no";
    if (this.retriesRemaining === 0) {
      this.cluster.stat("upstream_rq_retry_limit_exceeded");
      return "limit-exceeded";
    }
    this.retriesRemaining--;
    if (!this.cluster.retryBudget.canCreate()) {
      this.cluster.stat("upstream_rq_retry_overflow");
      return "overflow";
    }
    this.armed = true;
    this.cluster.retryBudget.inc();
    this.cluster.stat("upstream_rq_retry");
    return "yes";
  }

  /** resetRetry: give back the circuit breaker's unit (also when the state is dropped). */
  release(): void {
    if (!this.armed) return;
    this.armed = false;
    this.cluster.retryBudget.dec();
  }

  /** Router::onUpstreamHostSelected → RetryStateImpl::onHostAttempted (host predicates and priority). */
  onHostAttempted(ep: Endpoint): void {
    this.attemptedHosts.push(ep);
    this.priorityAttempts.push(ep);
  }

  /** previous_hosts.h shouldSelectAnotherHost: the candidate was already attempted. */
  shouldSelectAnotherHost(ep: Endpoint): boolean {
    return this.policy.previousHosts && this.attemptedHosts.includes(ep);
  }

  /**
   * previous_priorities.cc determinePriorityLoad, for a cluster whose hosts are all healthy (the
   * gateway has no health checking): every level with hosts has full availability, so the load goes
   * to the lowest level not excluded. Every `update_frequency` attempted hosts, the levels of the
   * hosts attempted so far are excluded; when no level is left, the original load applies again
   * and the attempts are forgotten. Returns the level to pick from, or undefined for the original load.
   */
  priorityForRetry(levels: number[]): number | undefined {
    const freq = this.policy.previousPrioritiesUpdateFrequency;
    if (freq === undefined) return undefined;
    const n = this.priorityAttempts.length;
    if (n < freq) return undefined;
    if (n % freq === 0) for (const h of this.priorityAttempts) this.excludedPriorities.add(h.priority ?? 0);
    const left = levels.filter((l) => !this.excludedPriorities.has(l));
    if (left.length === 0) {
      this.excludedPriorities.clear();
      this.priorityAttempts.length = 0;
      return undefined;
    }
    return Math.min(...left);
  }
}
