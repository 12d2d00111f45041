// A change to one shared record, applied atomically by the store (host/store.ts reads,
// applies, and writes back with CAS, retrying on conflict). AssemblyScript has no closures:
// each change is a small class that carries its inputs.

export abstract class StateOp<T> {
  /** Mutates `s`; returns false to abandon the update (nothing is written). */
  abstract apply(s: T): bool;
}
