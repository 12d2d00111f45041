// Which of a provider's credentials a request or a probe uses: a slot of one credential
// (auth.quota perCredential) uses its own; a provider's one slot uses its credentials in order,
// skipping those set aside as rejected and identities without a usable token. -1: none is
// usable now (the provider is then unavailable: never sent an empty or stale credential).

import { IdentityConfig, ProviderConfig } from "../../config/model";
import { authHeaderName, authHeaderValue } from "../../provider/route";
import { ProviderState } from "../../health/state";
import { ProviderSlot } from "../../provider/registry";
import { TokenRejection } from "./token_record";
import { Tokens } from "./tokens";
import { updateState } from "../../host/store";
import { Level, log } from "../../host/log";
import { StateOp } from "../../lib/state_op";

export function usableCredential(slot: ProviderSlot, p: ProviderConfig, s: ProviderState, tokens: Tokens, now: i64): i32 {
  const cs = p.credentials;
  if (slot.credential >= 0) {
    const id = p.credentialAt(slot.credential).identity;
    return id === null || tokens.usable(id, now) ? slot.credential : -1;
  }
  const n = cs.length > 0 ? cs.length : 1;
  for (let k = 0; k < n; k++) {
    if (n > 1 && s.credentialRejected(k, now)) continue;
    const id = p.credentialAt(k).identity;
    if (id !== null && !tokens.usable(id, now)) continue;
    return k;
  }
  return -1;
}

/** Does choosing a credential for `p` take more than taking its first (one key, no identity)? */
export function simpleAuth(slot: ProviderSlot, p: ProviderConfig): bool {
  return slot.credential < 0 && p.credentials.length <= 1 && p.credential.identity === null;
}

/** A rejected credential of a provider with several (shared quota): set it aside unless it is the last one. */
export class CredentialRejectedOp extends StateOp<ProviderState> {
  /** Every credential is now rejected: apply the usual ejection instead. */
  last: bool = false;
  /** This answer set it aside (it was not already). */
  newly: bool = false;
  constructor(public k: i32, public count: i32, public now: i64, public untilMs: i64) { super(); }
  apply(s: ProviderState): bool {
    const bit = <u8>1 << <u8>this.k;
    if (this.now >= s.badCredentialsUntilMs) s.badCredentials = 0;
    this.newly = (s.badCredentials & bit) == 0;
    s.badCredentials |= bit;
    s.badCredentialsUntilMs = this.untilMs;
    let all = true;
    for (let i = 0; i < this.count; i++) if ((s.badCredentials & (<u8>1 << <u8>i)) == 0) all = false;
    this.last = all;
    return true;
  }
}

/** A probe with credential k succeeded: it is good again. */
export class CredentialGoodOp extends StateOp<ProviderState> {
  constructor(public k: i32) { super(); }
  apply(s: ProviderState): bool {
    const bit = <u8>1 << <u8>this.k;
    if ((s.badCredentials & bit) == 0) return false;
    s.badCredentials &= ~bit;
    return true;
  }
}

/**
 * One credential of one provider as an attempt or a probe carries it: which of the provider's
 * credentials (`index`), the header it goes in and that header's value (an identity's token as
 * of the choice), and the token's generation (0 for a key) that a 401 or an acceptance is
 * reported against. Made only by `credentialFor`, the one place a credential becomes a header.
 */
export class CredentialChoice {
  constructor(public readonly slot: ProviderSlot, public readonly index: i32, public readonly header: string,
    public readonly value: string, public readonly generation: u32) {}

  get provider(): ProviderConfig {
    return this.slot.config;
  }

  get identity(): IdentityConfig | null {
    return this.slot.config.credentialAt(this.index).identity;
  }

  /** As logs name it: "key <masked>" or the identity (masked). */
  describe(): string {
    const c = this.slot.config.credentialAt(this.index);
    return c.identity !== null ? c.masked() : "key " + c.masked();
  }

  /** Where it came from ("apiKeyEnv:NAME", "identity:NAME", …), for messages. */
  source(): string {
    const p = this.slot.config;
    return this.index < p.credentialSources.length ? unchecked(p.credentialSources[this.index]) : p.credentialSource;
  }

  /** The provider accepted it: a later 401 to this token is a stale token again, not "no access" (tokens.ts). */
  accepted(tokens: Tokens): void {
    const id = this.identity;
    if (id !== null && this.generation != 0) tokens.accepted(id, this.generation, this.slot.config.name);
  }

  /**
   * A 401/403 to it. An identity's token is set aside and renewed, once (a renewed token rejected
   * again means no access: false); a key of several (shared quota) is set aside for
   * `authFailureMs` while another remains, with one warning naming it masked. True when the
   * provider is not to be ejected for it. `who`: how the log names the caller ("provider X",
   * "health check X").
   */
  setAside(status: i32, now: i64, authFailureMs: i64, tokens: Tokens, who: string): bool {
    const slot = this.slot;
    const p = slot.config;
    const k = this.index;
    const c = p.credentialAt(k);
    const id = c.identity;
    if (id !== null) return tokens.rejected(id, this.generation, p.name, status) == TokenRejection.Refreshing;
    if (slot.credential >= 0 || p.credentials.length <= 1) return false;
    const op = new CredentialRejectedOp(k, p.credentials.length, now, now + authFailureMs);
    updateState<ProviderState>(slot.stateKey, slot.stateFingerprint, op);
    if (op.last) return false;
    if (op.newly) {
      log(Level.Warn, "ai-failover: " + who + ": credentials[" + k.toString() + "] (key " + c.masked() + ", from " +
        this.source() + ") rejected with " + status.toString() + ": set aside for " + authFailureMs.toString() +
        " ms; the provider stays in service with its next credential");
    }
    return true;
  }
}

/**
 * Credential `k` of the slot's provider as of now, ready to send; null when it is an identity
 * without a usable token (the provider is then unavailable: never an empty or stale token).
 */
export function credentialFor(slot: ProviderSlot, k: i32, tokens: Tokens, now: i64): CredentialChoice | null {
  const p = slot.config;
  const id = p.credentialAt(k).identity;
  if (id === null) return new CredentialChoice(slot, k, authHeaderName(p, k), authHeaderValue(p, k), 0);
  // Read again at the choice: it may just have been renewed.
  const token = tokens.current(id, now);
  if (token === null) return null;
  return new CredentialChoice(slot, k, authHeaderName(p, k), authHeaderValue(p, k, token.token), token.generation);
}
