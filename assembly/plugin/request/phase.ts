// Where a client request is in its life. Every move goes through `allowed`: the whole state
// machine of a request is this table.
//
//   Idle         → ReadingBody | Forwarded | Replied
//   ReadingBody  → Forwarded | Replied
//   Forwarded    → Responding | ReadingError | FailingOver | Replied
//   ReadingError → Responding | FailingOver
//   FailingOver  → FailingOver (the next provider) | Replied
//   Responding   → Replied (header mode: a body refused after the answer began)
//   any          → Done
//
// Idle: created; nothing decided yet (a request without configuration stays here).
// ReadingBody: body mode — headers held until the whole body is read.
// Forwarded: the first attempt went upstream in-band (the client's request, rewritten).
// ReadingError: an in-band 429 is held while its body says whether it is a quota error.
// FailingOver: the in-band answer is held back; an attempt is in flight through http_call.
// Responding: an upstream answer streams to the client.
// Replied: the gateway answered itself (its own error, or a failover attempt's answer).
// Done: on_log ran; everything is accounted.

export const enum Phase {
  Idle = 0,
  ReadingBody = 1,
  Forwarded = 2,
  ReadingError = 3,
  FailingOver = 4,
  Responding = 5,
  Replied = 6,
  Done = 7,
}

export function phaseName(p: Phase): string {
  switch (p) {
    case Phase.Idle: return "idle";
    case Phase.ReadingBody: return "reading_body";
    case Phase.Forwarded: return "forwarded";
    case Phase.ReadingError: return "reading_error";
    case Phase.FailingOver: return "failing_over";
    case Phase.Responding: return "responding";
    case Phase.Replied: return "replied";
    case Phase.Done: return "done";
  }
  return "unknown";
}

/** May a request move from `from` to `to`? */
export function allowed(from: Phase, to: Phase): bool {
  if (to == Phase.Done) return from != Phase.Done;
  switch (from) {
    case Phase.Idle: return to == Phase.ReadingBody || to == Phase.Forwarded || to == Phase.Replied;
    case Phase.ReadingBody: return to == Phase.Forwarded || to == Phase.Replied;
    // Header mode: the body arrives after the request went upstream, and can still be refused.
    case Phase.Forwarded: return to == Phase.ReadingError || to == Phase.FailingOver || to == Phase.Responding || to == Phase.Replied;
    case Phase.ReadingError: return to == Phase.FailingOver || to == Phase.Responding;
    // Each further provider is another attempt in flight.
    case Phase.FailingOver: return to == Phase.FailingOver || to == Phase.Replied;
    // Header mode: a body refused after the answer began (Envoy then resets the stream).
    case Phase.Responding: return to == Phase.Replied;
  }
  return false;
}
