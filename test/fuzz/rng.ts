// The fuzzers' pseudo-random numbers: a small, fast, seedable generator (sfc32, seeded through
// splitmix32's mixer) and the hash that derives the data a simulated device returns from its
// inputs (address, size, a per-access counter).
// Everything random in test/fuzz comes from here, so a seed reproduces a run exactly.

/** Mix a 32-bit value (splitmix32's finaliser): a good hash for keys such as (address, counter). */
export function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A hash of several 32-bit keys. */
export function hash32(...keys: number[]): number {
  let h = 0x12345678;
  for (const k of keys) h = mix32((h ^ k) | 0);
  return h;
}

/** sfc32 (Chris Doty-Humphrey's small fast counting generator), seeded by mixing the seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = mix32(seed);
    this.b = mix32(seed ^ 0x6a09e667);
    this.c = mix32((seed + stream) | 0);
    this.d = mix32(stream ^ 0xbb67ae85);
    for (let k = 0; k < 12; k++) this.u32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  byte(): number {
    return this.u32() & 0xff;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** One of `items`, chosen with the weights given (same length). */
  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    let total = 0;
    for (const w of weights) total += w;
    let x = (this.u32() / 0x1_0000_0000) * total;
    for (let k = 0; k < items.length; k++) {
      x -= weights[k];
      if (x < 0) return items[k];
    }
    return items[items.length - 1];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let k = 0; k < n; k += 4) {
      const v = this.u32();
      out[k] = v;
      if (k + 1 < n) out[k + 1] = v >>> 8;
      if (k + 2 < n) out[k + 2] = v >>> 16;
      if (k + 3 < n) out[k + 3] = v >>> 24;
    }
    return out;
  }
}
