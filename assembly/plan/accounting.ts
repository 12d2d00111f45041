// What an answered attempt is charged: the provider's own usage when it reported one, else an
// estimate (said to be one). The one rule for every way an attempt ends. Pure.

import { Usage } from "../lib/usage";

export class Charge {
  input: i64 = 0;
  output: i64 = 0;
  /** No usage came from the provider: the figures are the gateway's estimate. */
  estimated: bool = false;
  /** The provider reported usage. */
  reported: bool = false;

  get total(): i64 {
    return this.input + this.output;
  }

  /** Is there anything to settle a reservation with? */
  get known(): bool {
    return this.reported || this.estimated;
  }
}

/** Nothing charged (shared: a Charge is never changed once charge() made it). */
export const NO_CHARGE = new Charge();

/**
 * `ok`: the answer was a success (only successes are estimated: a cut stream too, for what it
 * streamed). `streamedOutput`: the output a stream carried, estimated from its content events and
 * text (ResponseScan.streamedOutput; -1 when not streamed); `responseBytes` otherwise sizes the
 * output.
 */
export function charge(usage: Usage, ok: bool, promptEstimate: i64, maxTokens: i64, streamedOutput: i64,
  responseBytes: i64): Charge {
  const c = new Charge();
  if (usage.found) {
    c.reported = true;
    c.input = usage.promptTokens > 0 ? usage.promptTokens : 0;
    c.output = usage.completionTokens > 0 ? usage.completionTokens : 0;
    // Only a total (some embeddings and compatible servers): it is all input.
    if (usage.promptTokens < 0 && usage.completionTokens < 0 && usage.totalTokens > 0) c.input = usage.totalTokens;
  } else if (ok) {
    // No usage from the provider (cut stream, API without usage): estimate, and say so.
    c.estimated = true;
    c.input = promptEstimate;
    c.output = streamedOutput >= 0 ? streamedOutput : responseBytes / 4;
    if (maxTokens > 0 && c.output > maxTokens) c.output = maxTokens;
  }
  return c;
}
