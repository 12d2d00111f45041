// Small deterministic PRNG (xorshift64*): weighted choice must be reproducible in tests
// (config `seed`) and must not import Math.random (env.seed is not an Envoy import).

export class Rng {
  private s: u64;
  constructor(seed: u64) {
    this.s = seed != 0 ? seed : 0x9e3779b97f4a7c15;
  }
  next(): u64 {
    let x = this.s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    this.s = x;
    return x * 0x2545f4914f6cdd1d;
  }
  /** Uniform in [0, n). */
  below(n: u32): u32 {
    if (n <= 1) return 0;
    return <u32>((this.next() >> 11) % <u64>n);
  }
}
