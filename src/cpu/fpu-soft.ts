// Software floating point for the x87: classification of 80-bit values, the one rounding routine
// every result goes through (extended precision under the control word's precision and rounding
// controls, and the single/double memory formats), and exact conversions to and from JS doubles.
//
// Values are handled as sign × sig × 2^exp with `sig` a BigInt holding the exact (or sticky)
// significand and `exp` the exponent of its least significant bit. Storage elsewhere is BigInt-free
// (sign/exponent in 16 bits, significand in two uint32 halves); BigInt appears only while an
// arithmetic result is formed and rounded, where correctness comes first.

// Status-word bits (and the exception bits shared with the control-word masks).
export const FE_IE = 0x01, FE_DE = 0x02, FE_ZE = 0x04, FE_OE = 0x08, FE_UE = 0x10, FE_PE = 0x20;
export const SW_SF = 0x40, SW_ES = 0x80, SW_C0 = 0x100, SW_C1 = 0x200, SW_C2 = 0x400, SW_C3 = 0x4000, SW_B = 0x8000;
export const SW_CC = SW_C0 | SW_C1 | SW_C2 | SW_C3;

// Rounding control (CW bits 10-11).
export const RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2, RC_CHOP = 3;

/** Extended-precision exponent bias, and bias + 63 (the LSB exponent of a normal significand). */
export const BIAS = 16383;
export const BIAS63 = BIAS + 63;
/** Exponent adjustment applied to results when overflow or underflow is unmasked (register destinations). */
export const WRAP = 24576;

/** Scratch slots of the X87 value arrays (past the eight physical registers). */
export const T0 = 8, T1 = 9, T2 = 10, T3 = 11;

// Operand classes.
export const K_ZERO = 0, K_NORMAL = 1, K_DENORMAL = 2, K_INF = 3, K_QNAN = 4, K_SNAN = 5, K_UNSUPPORTED = 6, K_EMPTY = 7;

/**
 * Class of an 80-bit value. Pseudo-denormals (exponent 0, integer bit 1) count as denormals, as
 * the 387 and later do; unnormals, pseudo-NaNs and pseudo-infinities are unsupported formats.
 */
export function classify(se: number, hi: number, lo: number): number {
  const e = se & 0x7fff;
  if (e === 0) return (hi | lo) === 0 ? K_ZERO : K_DENORMAL;
  if ((hi & 0x80000000) === 0) return K_UNSUPPORTED;
  if (e === 0x7fff) {
    if ((hi & 0x7fffffff) === 0 && lo === 0) return K_INF;
    return (hi & 0x40000000) !== 0 ? K_QNAN : K_SNAN;
  }
  return K_NORMAL;
}

export function isNaNClass(k: number): boolean {
  return k === K_QNAN || k === K_SNAN;
}

const MASK32 = 0xffffffffn;

/** Number of significant bits of a positive BigInt. */
export function bitLength(v: bigint): number {
  let n = 0;
  while (v > MASK32) {
    if (v >> 256n !== 0n) { v >>= 256n; n += 256; } else { v >>= 32n; n += 32; }
  }
  const x = Number(v);
  return x === 0 ? n : n + 32 - Math.clz32(x);
}

/** The 64-bit significand of a slot as a BigInt. */
export function toBig(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** The result of `round`. */
export class Rounded {
  /** Significand aligned to the format's field (explicit leading bit at field-1). */
  sig = 0n;
  /** Biased exponent; emax+1 encodes infinity. */
  biased = 0;
  /** Exception flags raised (PE, UE, OE). */
  exc = 0;
  /** The magnitude was increased by rounding (C1). */
  up = false;
  /** The exact value was tiny (below the smallest normal) before rounding. */
  tiny = false;
}

/**
 * Round the exact value sign × sig × 2^exp (sig > 0) to a format with `field` significand bits,
 * `prec` of them significant (the x87 precision control keeps the 64-bit field but rounds at bit
 * 64-prec), exponent bias `bias` and largest finite biased exponent `emax`.
 * `wrap`: a register destination with the overflow/underflow exception unmasked gets the
 * exponent-wrapped result (±24576) instead of the masked response. Tininess is detected after
 * rounding (checked against a physical x87).
 */
export function round(o: Rounded, sign: number, exp: number, sig: bigint, field: number, prec: number,
  bias: number, emax: number, rc: number, wrapO: boolean, wrapU: boolean): void {
  o.exc = 0;
  o.up = false;
  const n = bitLength(sig);
  let biased = exp + n - 1 + bias;
  // Tininess after rounding: tiny when the result rounded to `prec` bits with an unbounded
  // exponent would still be below the smallest normal.
  let tiny = biased < 0 || (biased === 0 && !carriesOut(sign, sig, n, prec, rc));
  o.tiny = tiny;
  if (tiny && wrapU) {
    exp += WRAP;
    biased += WRAP;
    o.exc |= FE_UE;
    tiny = biased < 1;
  }
  const tMin = 1 - bias - (field - 1);
  let t = exp + n - field;
  if (t < tMin) t = tMin;
  let g = t + (field - prec);
  let q: bigint;
  let inexact = false;
  if (g <= exp) {
    q = sig << BigInt(exp - g);
  } else {
    const sh = BigInt(g - exp);
    q = sig >> sh;
    const r = sig & ((1n << sh) - 1n);
    if (r !== 0n) {
      inexact = true;
      if (roundsUp(rc, sign, q, r, sh)) {
        q += 1n;
        o.up = true;
      }
    }
  }
  if (q >> BigInt(prec) !== 0n) {
    q >>= 1n;
    g++;
  }
  const fsig = q << BigInt(field - prec);
  let b = (fsig >> BigInt(field - 1)) !== 0n ? g - (field - prec) + field - 1 + bias : 0;
  if (inexact) {
    o.exc |= FE_PE;
    if (tiny) o.exc |= FE_UE;
  }
  if (b > emax) {
    if (wrapO) {
      o.exc |= FE_OE;
      b -= WRAP;
      o.sig = fsig;
      o.biased = b;
      return;
    }
    o.exc |= FE_OE | FE_PE;
    const toInf = rc === RC_NEAREST || (rc === RC_UP && sign === 0) || (rc === RC_DOWN && sign !== 0);
    if (toInf) {
      o.biased = emax + 1;
      o.sig = 1n << BigInt(field - 1);
      o.up = true;
    } else {
      o.biased = emax;
      o.sig = ((1n << BigInt(prec)) - 1n) << BigInt(field - prec);
      o.up = false;
    }
    return;
  }
  o.sig = fsig;
  o.biased = b;
}

/** Whether rounding the n-bit `sig` to `prec` bits by `rc` carries into a new leading bit. */
function carriesOut(sign: number, sig: bigint, n: number, prec: number, rc: number): boolean {
  if (n <= prec) return false;
  const sh = BigInt(n - prec);
  const q = sig >> sh;
  if (q !== (1n << BigInt(prec)) - 1n) return false;
  const r = sig & ((1n << sh) - 1n);
  if (r === 0n) return false;
  switch (rc) {
    case RC_NEAREST: return r >= (1n << (sh - 1n)); // q is odd (all ones), so a tie rounds up
    case RC_DOWN: return sign !== 0;
    case RC_UP: return sign === 0;
    default: return false;
  }
}

/** Round sign × sig × 2^exp to an integer by `rc`. Returns the magnitude; sets `o.exc` (PE) and `o.up`. */
export function roundToInt(o: Rounded, sign: number, exp: number, sig: bigint, rc: number): bigint {
  o.exc = 0;
  o.up = false;
  if (exp >= 0) return sig << BigInt(exp);
  const sh = -exp;
  if (sh > 80) {
    // Below one half: only the sticky bit matters.
    o.exc = FE_PE;
    if ((rc === RC_UP && sign === 0) || (rc === RC_DOWN && sign !== 0)) {
      o.up = true;
      return 1n;
    }
    return 0n;
  }
  const s = BigInt(sh);
  let q = sig >> s;
  const r = sig & ((1n << s) - 1n);
  if (r !== 0n) {
    o.exc = FE_PE;
    if (roundsUp(rc, sign, q, r, s)) {
      q += 1n;
      o.up = true;
    }
  }
  return q;
}

// --- doubles

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** 2^e as a double for any e (0 or Infinity outside the double range). */
export function pow2(e: number): number {
  if (e > 1023) return e > 2098 ? Infinity : 2 ** 1023 * 2 ** (e - 1023);
  if (e < -1022) return e < -2200 ? 0 : 2 ** -1022 * 2 ** (e + 1022);
  return 2 ** e;
}

/**
 * The double nearest to a finite 80-bit value (round to nearest; values beyond the double range
 * become ±Infinity or ±0). Used only by the transcendental functions.
 */
export function toDouble(se: number, hi: number, lo: number): number {
  const e = se & 0x7fff;
  const s = (se & 0x8000) !== 0 ? -1 : 1;
  if ((hi | lo) === 0) return s * 0;
  // 64-bit significand → double rounds once (hi * 2^32 is exact; the addition rounds).
  const m = (hi >>> 0) * 4294967296 + (lo >>> 0);
  const ex = (e === 0 ? 1 : e) - BIAS63;
  // Scale in two steps so that an intermediate never underflows early.
  if (ex < -1000) return s * (m * 2 ** -1000) * pow2(ex + 1000);
  return s * m * pow2(ex);
}

/** Decompose a finite double exactly: returns [sign, exp, sig] with value = ±sig × 2^exp. */
export function fromDouble(d: number, out: { sign: number; exp: number; sig: bigint }): void {
  f64[0] = d;
  const hiw = u32[1], low = u32[0];
  out.sign = hiw >>> 31;
  const e = (hiw >>> 20) & 0x7ff;
  const frac = (BigInt(hiw & 0xfffff) << 32n) | BigInt(low);
  if (e === 0) {
    out.exp = -1074;
    out.sig = frac;
  } else {
    out.exp = e - 1075;
    out.sig = frac | (1n << 52n);
  }
}

// --- constants (66 significant bits, rounded to 64 by the rounding control like the 387 does)

/** A constant as [biased exponent, 64-bit significand rounded to nearest, whether RN rounded up]. */
export interface Const66 { exp: number; sig: bigint; roundedUp: boolean }

export const CONST_L2T: Const66 = { exp: 0x4000, sig: 0xd49a784bcd1b8afen, roundedUp: false };
export const CONST_L2E: Const66 = { exp: 0x3fff, sig: 0xb8aa3b295c17f0bcn, roundedUp: true };
export const CONST_PI: Const66 = { exp: 0x4000, sig: 0xc90fdaa22168c235n, roundedUp: true };
export const CONST_LG2: Const66 = { exp: 0x3ffd, sig: 0x9a209a84fbcff799n, roundedUp: true };
export const CONST_LN2: Const66 = { exp: 0x3ffe, sig: 0xb17217f7d1cf79acn, roundedUp: true };

/** The significand of a constant under rounding control `rc`. */
export function constSig(k: Const66, rc: number): bigint {
  // Round-to-nearest already chose; a directed mode differs by one unit where RN went the other way.
  if (rc === RC_NEAREST) return k.sig;
  const towardUp = rc === RC_UP;
  if (k.roundedUp && !towardUp) return k.sig - 1n;
  if (!k.roundedUp && towardUp) return k.sig + 1n;
  return k.sig;
}

/** The part of X87 that twoResultPrologue needs (fpu.ts imports this file, not the other way). */
interface StackOps {
  top: number;
  isEmpty(i: number): boolean;
  canPush(): boolean;
  underflow(): boolean;
  overflow(): boolean;
  setIndef(slot: number): void;
  pushIndef(): void;
  kind(slot: number): number;
  nan1(slot: number, kind: number, dst: number): boolean;
  copy(from: number, to: number): void;
  pushSlot(slot: number): void;
}

/**
 * Stack and NaN checks of an instruction that replaces ST(0) and pushes a second result (FXTRACT,
 * FPTAN, FSINCOS): an empty ST(0) or a full stack takes the stack-fault response, a NaN operand
 * gives two NaNs. Returns true when the operation may go on with a number in ST(0).
 */
export function twoResultPrologue(f: StackOps): boolean {
  if (f.isEmpty(0)) {
    if (!f.underflow()) return false;
    f.setIndef(f.top);
    if (!f.canPush()) f.overflow();
    f.pushIndef();
    return false;
  }
  if (!f.canPush()) {
    if (!f.overflow()) return false;
    f.setIndef(f.top);
    f.pushIndef();
    return false;
  }
  const k = f.kind(f.top);
  if (k >= K_QNAN) {
    if (!f.nan1(f.top, k, T0)) return false;
    f.copy(f.top, T0);
    f.pushSlot(T0);
    return false;
  }
  return true;
}

/**
 * Whether a truncated quotient `q` with the `shift` low bits `r` (non-zero) dropped rounds up in
 * magnitude under rounding control `rc` for a value of sign `sign`.
 */
function roundsUp(rc: number, sign: number, q: bigint, r: bigint, shift: bigint): boolean {
  switch (rc) {
    case RC_NEAREST: {
      const half = 1n << (shift - 1n);
      return r > half || (r === half && (q & 1n) === 1n);
    }
    case RC_DOWN: return sign !== 0;
    case RC_UP: return sign === 0;
    default: return false;
  }
}
