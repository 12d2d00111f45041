// A consumer's budget in shared data: an admission window and nothing else (a consumer has no
// health and no provider-reported counts). Its own compact layout, apart from providers'.

import { RecordIo } from "../lib/record";
import { Window } from "./window";

const BUDGET_LAYOUT: u32 = 0x42554401; // "BUD" + version 1
export const BUDGET_BYTES: i32 = 32;

export class BudgetState extends Window {
  layout(): u32 {
    return BUDGET_LAYOUT;
  }

  bytes(): i32 {
    return BUDGET_BYTES;
  }

  fields(io: RecordIo): void {
    this.fingerprint = io.u32(this.fingerprint);
    this.windowStartMs = io.i64(this.windowStartMs);
    this.tokensReserved = io.i64(this.tokensReserved);
    this.requestsReserved = io.i64(this.requestsReserved);
  }
}
