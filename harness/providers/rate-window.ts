/**
 * Per-deployment (Azure) / per-model (OpenAI) rate-limit window, counted the way Azure
 * counts: at admission, a request reserves 1 request and (prompt estimate + max tokens);
 * if either would exceed what remains in the current window, it is refused at once.
 * Nothing is refunded when the answer is shorter than max tokens.
 *
 * Windows are fixed and anchored at the first admission after the previous one expired,
 * so a burst of parallel requests always falls into one window (deterministic tests).
 */
import type { WindowState } from "./types.ts";

export type Admission =
  | { admitted: true; state: WindowState }
  | { admitted: false; reason: "requests" | "tokens"; retryAfterMs: number; state: WindowState };

export class RateWindow {
  private start = -Infinity;
  private usedTokens = 0;
  private usedRequests = 0;

  constructor(
    readonly limitTokens: number,
    readonly limitRequests: number,
    private readonly windowMs: number,
  ) {}

  private roll(now: number): void {
    if (now >= this.start + this.windowMs) {
      this.start = now;
      this.usedTokens = 0;
      this.usedRequests = 0;
    }
  }

  /** Reserve `tokens` and one request, or say why not and for how long. */
  admit(tokens: number, now: number): Admission {
    this.roll(now);
    if (this.usedRequests + 1 > this.limitRequests) {
      return { admitted: false, reason: "requests", retryAfterMs: this.resetsIn(now), state: this.state(now) };
    }
    if (this.usedTokens + tokens > this.limitTokens) {
      return { admitted: false, reason: "tokens", retryAfterMs: this.resetsIn(now), state: this.state(now) };
    }
    this.usedRequests += 1;
    this.usedTokens += tokens;
    return { admitted: true, state: this.state(now) };
  }

  private resetsIn(now: number): number {
    return Math.max(0, this.start + this.windowMs - now);
  }

  /** Current remaining budget (a window that has expired reads as full). */
  state(now: number): WindowState {
    const expired = now >= this.start + this.windowMs;
    return {
      limitTokens: this.limitTokens,
      limitRequests: this.limitRequests,
      remainingTokens: expired ? this.limitTokens : Math.max(0, this.limitTokens - this.usedTokens),
      remainingRequests: expired ? this.limitRequests : Math.max(0, this.limitRequests - this.usedRequests),
      resetsInMs: expired ? 0 : this.resetsIn(now),
    };
  }
}
