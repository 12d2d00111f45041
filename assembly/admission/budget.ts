// A consumer's budget in shared data: an admission window and nothing else (a consumer has no
// health and no provider-reported counts). Its own compact layout, apart from providers'.

import { Window } from "./window";

const BUDGET_LAYOUT: u32 = 0x42554401; // "BUD" + version 1
export const BUDGET_BYTES: i32 = 32;

export class BudgetState extends Window {
  encode(): ArrayBuffer {
    const buf = new ArrayBuffer(BUDGET_BYTES);
    const p = changetype<usize>(buf);
    store<u32>(p, BUDGET_LAYOUT);
    store<u32>(p, this.fingerprint, 4);
    store<i64>(p, this.windowStartMs, 8);
    store<i64>(p, this.tokensReserved, 16);
    store<i64>(p, this.requestsReserved, 24);
    return buf;
  }

  decodeFrom(buf: ArrayBuffer): bool {
    if (buf.byteLength != BUDGET_BYTES) return false;
    const p = changetype<usize>(buf);
    if (load<u32>(p) != BUDGET_LAYOUT) return false;
    this.fingerprint = load<u32>(p, 4);
    this.windowStartMs = load<i64>(p, 8);
    this.tokensReserved = load<i64>(p, 16);
    this.requestsReserved = load<i64>(p, 24);
    return true;
  }
}
