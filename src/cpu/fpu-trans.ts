// x87 transcendental instructions: F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS.
//
// Each is evaluated in a small binary floating point on BigInts (value = m × 2^e with a 192-bit
// working precision) by series after argument reduction, then rounded once to extended precision
// by the rounding control. The working error is far below 2^-120 relative, so results are the
// correctly rounded extended value except for a double-rounding case no test can hit (the
// inexact flag is always set for inexact results; C1 reports rounding up). FSIN/FCOS/FPTAN/FSINCOS
// reduce their argument with π to 576 bits, so for large arguments they give the mathematically
// right result; a physical x87 reduces with a 66-bit π and differs there.
//
// Special operands (zeros, infinities, NaNs, out-of-range arguments, stack faults) follow the
// tables on the SDM instruction pages.

import type { X87 } from './fpu.js';
import {
  BIAS, FE_DE, FE_PE, FE_ZE, K_DENORMAL, K_INF, K_QNAN, K_ZERO, SW_C1, SW_C2, T0, T1, bitLength, twoResultPrologue,
} from './fpu-soft.js';

/** Working precision in bits. */
const P = 192;

/** value = m × 2^e (m signed). */
interface BF { m: bigint; e: number }

function bf(m: bigint, e: number): BF {
  if (m === 0n) return { m, e: 0 };
  const neg = m < 0n;
  let a = neg ? -m : m;
  const n = bitLength(a);
  if (n > P) {
    a >>= BigInt(n - P);
    e += n - P;
  }
  return { m: neg ? -a : a, e };
}

function mul(a: BF, b: BF): BF { return bf(a.m * b.m, a.e + b.e); }

function div(a: BF, b: BF): BF {
  const nb = bitLength(b.m < 0n ? -b.m : b.m);
  const sh = P + nb;
  return bf((a.m << BigInt(sh)) / b.m, a.e - b.e - sh);
}

/**
 * `a` moved by less than one unit of the working precision toward the sign of `dir`: keeps which
 * side of `a` the true value lies on when a short `a` (an exact operand) absorbs a negligible term,
 * so the final rounding of, say, cos(tiny) = 1 − ε goes the right way under directed rounding.
 */
function nudge(a: BF, dir: bigint): BF {
  if (dir === 0n || a.m === 0n) return a;
  const s = P - bitLength(a.m < 0n ? -a.m : a.m);
  if (s <= 0) return a;
  return { m: (a.m << BigInt(s)) + (dir < 0n ? -1n : 1n), e: a.e - s };
}

function add(a: BF, b: BF): BF {
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  // Magnitudes far apart: the smaller is below the working precision.
  const ta = a.e + bitLength(a.m < 0n ? -a.m : a.m), tb = b.e + bitLength(b.m < 0n ? -b.m : b.m);
  if (ta - tb > P + 8) return nudge(a, b.m);
  if (tb - ta > P + 8) return nudge(b, a.m);
  if (a.e >= b.e) return bf((a.m << BigInt(a.e - b.e)) + b.m, b.e);
  return bf(a.m + (b.m << BigInt(b.e - a.e)), a.e);
}

function neg(a: BF): BF { return { m: -a.m, e: a.e }; }
function sub(a: BF, b: BF): BF { return add(a, neg(b)); }
function scale(a: BF, k: number): BF { return { m: a.m, e: a.e + k }; }
function int(n: number): BF { return bf(BigInt(n), 0); }
function isZero(a: BF): boolean { return a.m === 0n; }
/** Exponent of the leading bit (for zero, a very small number). */
function top(a: BF): number { return a.m === 0n ? -1e9 : a.e + bitLength(a.m < 0n ? -a.m : a.m) - 1; }

function sqrt(a: BF): BF {
  // a > 0. Make the exponent even and the mantissa 2P bits wide so the root has P bits.
  let m = a.m, e = a.e;
  const sh = 2 * P - bitLength(m);
  let s = sh > 0 ? sh : 0;
  if (((e - s) & 1) !== 0) s++;
  m <<= BigInt(s);
  e -= s;
  let x = 1n << BigInt((bitLength(m) >> 1) + 1);
  for (;;) {
    const y = (x + m / x) >> 1n;
    if (y >= x) break;
    x = y;
  }
  return bf(x, e >> 1);
}

/** A term is negligible once it is this far below the sum. */
function negligible(term: BF, sum: BF): boolean {
  return term.m === 0n || top(term) < top(sum) - P - 2;
}

// --- constants

/** π to 576 bits (its hexadecimal expansion 3.243F6A88…). */
const PI_HEX = '3243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89452821e638d01377be5466cf34e90c6cc0ac29b7c97c50dd3f84d5b5b54709179216d5d98979fb1b';
const PI_INT = BigInt('0x' + PI_HEX);
const PI_FRAC = (PI_HEX.length - 1) * 4;
const PI: BF = bf(PI_INT, -PI_FRAC);
const PI_2 = scale(PI, -1);
const PI_4 = scale(PI, -2);

/** atanh(s) = s + s³/3 + s⁵/5 + … for |s| < 1/2. */
function atanhSeries(s: BF): BF {
  const s2 = mul(s, s);
  let pw = s;
  let sum = s;
  for (let k = 3; ; k += 2) {
    pw = mul(pw, s2);
    const term = div(pw, int(k));
    if (negligible(term, sum)) return nudge(sum, term.m);
    sum = add(sum, term);
  }
}

/** ln 2 = 2·atanh(1/3). */
const LN2: BF = scale(atanhSeries(div(int(1), int(3))), 1);

/** ln(x) for x > 0 as e·ln2 + 2·atanh((m−1)/(m+1)) with m in [√½, √2); the integer part e separately. */
function lnParts(x: BF): { e: number; frac: BF } {
  // m = x·2^-e in [1/√2, √2): start from [1, 2) and move down when m > √2 (m² > 2).
  let e = top(x);
  let m = scale(x, -e);
  if (sub(mul(m, m), int(2)).m > 0n) {
    m = scale(m, -1);
    e += 1;
  }
  const s = div(sub(m, int(1)), add(m, int(1)));
  return { e, frac: scale(atanhSeries(s), 1) };
}

/** log2(x) for x > 0; `exact` when x is a power of two. */
function log2(x: BF): { v: BF; exact: boolean } {
  const { e, frac } = lnParts(x);
  if (isZero(frac)) return { v: int(e), exact: true };
  return { v: add(int(e), div(frac, LN2)), exact: false };
}

/** e^t − 1, precise relative to the result for small t. */
function expm1(t: BF): BF {
  // Halve the argument k times to below 2^-12, sum the series, then undo: expm1(2a) = expm1(a)·(expm1(a)+2).
  const k = Math.max(0, top(t) + 12);
  const a = scale(t, -k);
  let term = a;
  let sum = a;
  for (let n = 2; ; n++) {
    term = div(mul(term, a), int(n));
    if (negligible(term, sum)) { sum = nudge(sum, term.m); break; }
    sum = add(sum, term);
  }
  for (let j = 0; j < k; j++) sum = mul(sum, add(sum, int(2)));
  return sum;
}

/** atan(x) for x ≥ 0. */
function atan(x: BF): BF {
  if (isZero(x)) return x;
  if (top(x) >= 0 && sub(x, int(1)).m > 0n) return sub(PI_2, atan(div(int(1), x)));
  // Two angle halvings: atan(x) = 2·atan(x / (1 + √(1+x²))).
  let y = x;
  for (let j = 0; j < 2; j++) y = div(y, add(int(1), sqrt(add(int(1), mul(y, y)))));
  const y2 = mul(y, y);
  let pw = y;
  let sum = y;
  for (let k = 3; ; k += 2) {
    pw = neg(mul(pw, y2));
    const term = div(pw, int(k));
    if (negligible(term, sum)) { sum = nudge(sum, term.m); break; }
    sum = add(sum, term);
  }
  return scale(sum, 2);
}

function sinSeries(r: BF): BF {
  const r2 = mul(r, r);
  let term = r;
  let sum = r;
  for (let n = 2; ; n += 2) {
    term = neg(div(mul(term, r2), int(n * (n + 1))));
    if (negligible(term, sum)) return nudge(sum, term.m);
    sum = add(sum, term);
  }
}

function cosSeries(r: BF): BF {
  const r2 = mul(r, r);
  let term = int(1);
  let sum = term;
  for (let n = 1; ; n += 2) {
    term = neg(div(mul(term, r2), int(n * (n + 1))));
    if (negligible(term, sum)) return nudge(sum, term.m);
    sum = add(sum, term);
  }
}

// --- slots ⇄ BF

function slotBF(f: X87, s: number): BF {
  const v = bf(f.big(s), f.lsbExp(s));
  return f.sign(s) !== 0 ? neg(v) : v;
}

/** Round a BF into slot `d` (no precision control: transcendentals round to 64 bits). */
function packBF(f: X87, d: number, v: BF, exact: boolean): void {
  if (isZero(v)) { f.setZero(d, 0); return; }
  const sign = v.m < 0n ? 1 : 0;
  const m = v.m < 0n ? -v.m : v.m;
  if (exact) f.packReg(d, sign, v.e, m, 64);
  else f.packReg(d, sign, v.e - 1, (m << 1n) | 1n, 64);
}

/**
 * Reduce x (|x| < 2^63) modulo π/2: returns the quadrant k mod 4 and r = x − k·π/2, |r| ≤ π/4,
 * with π to 576 bits (the absolute error of r stays below 2^-500).
 */
function reduce(f: X87, s: number): { k: number; r: BF } {
  const x = slotBF(f, s);
  if (top(x) < -1) return { k: 0, r: x }; // |x| < 1/2 < π/4
  // k = nearest integer to x / (π/2); r exactly from the integers.
  const q = div(x, PI_2);
  let kq: bigint;
  const qe = q.e;
  if (qe >= 0) kq = q.m << BigInt(qe);
  else {
    const sh = BigInt(-qe);
    const am = q.m < 0n ? -q.m : q.m;
    let t = (am + (1n << (sh - 1n))) >> sh;
    if (q.m < 0n) t = -t;
    kq = t;
  }
  // x = X·2^lsb with lsb ≥ -64 here; π/2 = PI_INT·2^-(PI_FRAC+1).
  const lsb = f.lsbExp(s);
  const X = f.sign(s) !== 0 ? -f.big(s) : f.big(s);
  const rInt = (X << BigInt(lsb + PI_FRAC + 1)) - kq * PI_INT;
  const r = bf(rInt, -(PI_FRAC + 1));
  return { k: Number(BigInt.asUintN(2, kq)), r };
}

// --- instructions

/** `code`: D9 F0+n → n (F2XM1 0, FYL2X 1, FPTAN 2, FPATAN 3); D9 F8+n → 8+n (FYL2XP1 9, FSINCOS 11, FSIN 14, FCOS 15). */
export function x87Transcendental(f: X87, code: number): void {
  f.status &= ~SW_C1;
  switch (code) {
    case 0: f2xm1(f); return;
    case 1: fyl2x(f, false); return;
    case 9: fyl2x(f, true); return;
    case 3: fpatan(f); return;
    case 2: case 11: twoResults(f, code); return;
    default: trig(f, code === 14); return;
  }
}

/** The single-operand prologue: empty → underflow, NaN → propagated. Returns the class or -1 when done. */
function unary(f: X87): number {
  if (f.isEmpty(0)) {
    if (f.underflow()) f.setIndef(f.top);
    return -1;
  }
  const k = f.kind(f.top);
  if (k >= K_QNAN) {
    if (f.nan1(f.top, k, T0)) f.copy(f.top, T0);
    return -1;
  }
  return k;
}

/**
 * The prologue of FYL2X, FYL2XP1 and FPATAN (operands ST(0) and ST(1), result in ST(1), then a
 * pop): an empty operand is a stack underflow, a NaN operand gives the NaN result. False: done.
 */
function popPrologue(f: X87): boolean {
  if (f.isEmpty(0) || f.isEmpty(1)) {
    if (f.underflow()) { f.setIndef(f.ph(1)); f.empty &= ~(1 << f.ph(1)); f.pop(); }
    return false;
  }
  const a = f.top, b = f.ph(1);
  const kx = f.kind(a), ky = f.kind(b);
  if (kx >= K_QNAN || ky >= K_QNAN) {
    if (f.nan2(a, kx, b, ky, T0)) { f.copy(b, T0); f.pop(); }
    return false;
  }
  return true;
}

function f2xm1(f: X87): void {
  const k = unary(f);
  if (k < 0) return;
  const p = f.top;
  if (k === K_ZERO) return;
  if (k === K_INF) {
    if (f.sign(p) !== 0) f.set(p, 0x8000 | BIAS, 0x80000000, 0); // 2^-∞ − 1 = −1
    return;
  }
  if (f.denormal(k, k)) return;
  // 2^1 − 1 = 1 and 2^-1 − 1 = −1/2 are exact.
  if ((f.se[p] & 0x7fff) === BIAS && f.hi[p] === 0x80000000 && f.lo[p] === 0) {
    if (f.sign(p) === 0) f.set(p, BIAS, 0x80000000, 0);
    else f.set(p, 0x8000 | (BIAS - 1), 0x80000000, 0);
    return;
  }
  const x = slotBF(f, p);
  if (top(x) >= 0) {
    // Outside the domain −1 ≤ x ≤ 1 the result is undefined; a physical x87 (checked on one)
    // leaves the operand and reports an inexact result.
    f.exc |= FE_PE;
    return;
  }
  packBF(f, p, expm1(mul(x, LN2)), false);
}

/** FYL2X: ST(1) = ST(1)·log2(ST(0)); FYL2XP1: ST(1) = ST(1)·log2(ST(0)+1); then pop. */
function fyl2x(f: X87, p1: boolean): void {
  if (!popPrologue(f)) return;
  const a = f.top, b = f.ph(1);
  const kx = f.kind(a), ky = f.kind(b);
  const sx = f.sign(a), sy = f.sign(b);
  const done = (ok: boolean) => { if (ok) { f.copy(b, T0); f.pop(); } };
  // log2 of the argument as a class: -1 → −∞ (argument 0), 1 → +∞, 0 → ±0 (sign lsign), 2 → finite.
  let lclass: number;
  let lsign = 0;
  let L: BF = int(0);
  let exact = false;
  if (!p1) {
    if (sx !== 0 && kx !== K_ZERO) { done(f.invalid(T0)); return; }
    if (kx === K_ZERO) lclass = -1;
    else if (kx === K_INF) lclass = 1;
    else {
      if (f.denormal(kx, ky)) return;
      const r = log2(slotBF(f, a));
      L = r.v; exact = r.exact;
      lclass = isZero(L) ? 0 : 2;
    }
  } else {
    if (kx === K_INF) {
      if (sx !== 0) { done(f.invalid(T0)); return; }
      lclass = 1;
    } else if (kx === K_ZERO) {
      lclass = 0; lsign = sx;
    } else {
      if (f.denormal(kx, ky)) return;
      const x = slotBF(f, a);
      if (x.m < 0n && top(x) >= 0) {
        // x ≤ −1 is outside the domain: a physical x87 returns x (inexact), so do we.
        f.copy(T0, a);
        f.exc |= FE_PE;
        done(true);
        return;
      }
      const onePlus = add(int(1), x);
      if (onePlus.m < 0n) { done(f.invalid(T0)); return; }
      if (isZero(onePlus)) lclass = -1;
      else {
        // ln(1+x) = 2·atanh(x / (2+x)), precise for small x.
        const r = log2(onePlus);
        if (r.exact || top(x) >= -2) { L = r.v; exact = r.exact; }
        else L = div(scale(atanhSeries(div(x, add(int(2), x))), 1), LN2);
        lclass = isZero(L) ? 0 : 2;
      }
    }
  }
  if (lclass === 2 && L.m < 0n) lsign = 1;
  if (lclass === -1) lsign = 1;
  const rsign = sy ^ lsign;
  if (lclass === -1 || lclass === 1) {
    // y·(±∞)
    if (ky === K_ZERO) { done(f.invalid(T0)); return; }
    if (lclass === -1 && ky !== K_INF) {
      f.exc |= FE_ZE;
      if ((f.cw & FE_ZE) === 0) return;
    }
    if (f.denormal(ky, ky)) return;
    f.setInf(T0, rsign);
    done(true);
    return;
  }
  if (ky === K_INF) {
    if (lclass === 0) { done(f.invalid(T0)); return; }
    f.setInf(T0, rsign);
    done(true);
    return;
  }
  if (f.denormal(ky, ky)) return;
  if (ky === K_ZERO || lclass === 0) { f.setZero(T0, rsign); done(true); return; }
  const y = slotBF(f, b);
  if (exact) {
    // y × integer: exact product, one rounding.
    const prod = y.m * L.m;
    f.packReg(T0, prod < 0n ? 1 : 0, y.e + L.e, prod < 0n ? -prod : prod, 64);
  } else {
    packBF(f, T0, mul(y, L), false);
  }
  done(true);
}

/** FPATAN: ST(1) = atan2(ST(1), ST(0)), pop. */
function fpatan(f: X87): void {
  if (!popPrologue(f)) return;
  const a = f.top, b = f.ph(1);
  const kx = f.kind(a), ky = f.kind(b);
  if (f.denormal(kx, ky)) return;
  const sx = f.sign(a), sy = f.sign(b);
  let v: BF;
  let exact = false;
  if (ky === K_ZERO) {
    v = sx === 0 ? int(0) : PI;
    exact = sx === 0;
  } else if (kx === K_ZERO) {
    v = PI_2;
  } else if (ky === K_INF) {
    v = kx !== K_INF ? PI_2 : sx === 0 ? PI_4 : add(PI_2, PI_4);
  } else if (kx === K_INF) {
    v = sx === 0 ? int(0) : PI;
    exact = sx === 0;
  } else {
    const ax = slotBF(f, a), ay = slotBF(f, b);
    const t = atan(div(ay.m < 0n ? neg(ay) : ay, ax.m < 0n ? neg(ax) : ax));
    v = sx === 0 ? t : sub(PI, t);
  }
  if (isZero(v)) f.setZero(T0, sy);
  else packBF(f, T0, sy !== 0 ? neg(v) : v, exact);
  f.copy(b, T0);
  f.pop();
}

const TWO63 = 0x3fff + 63;

/** FSIN (sin) or FCOS in place; |x| ≥ 2^63 sets C2 and leaves ST(0). */
function trig(f: X87, isSin: boolean): void {
  const k = unary(f);
  f.status &= ~SW_C2;
  if (k < 0) return;
  const p = f.top;
  if (k === K_INF) { if (f.invalid(T0)) f.copy(p, T0); return; }
  if ((f.se[p] & 0x7fff) >= TWO63) { f.status |= SW_C2; return; }
  if (k === K_ZERO) {
    if (!isSin) f.set(p, BIAS, 0x80000000, 0);
    return;
  }
  if (f.denormal(k, k)) return;
  const { k: q, r } = reduce(f, p);
  const useSin = isSin ? (q & 1) === 0 : (q & 1) !== 0;
  let v = useSin ? sinSeries(r) : cosSeries(r);
  const negate = isSin ? q >= 2 : q === 1 || q === 2;
  if (negate) v = neg(v);
  packBF(f, p, v, false);
}

/** FPTAN (ST(0) = tan, push 1) and FSINCOS (ST(0) = sin, push cos). */
function twoResults(f: X87, code: number): void {
  f.status &= ~SW_C2;
  if (!twoResultPrologue(f)) return;
  const p = f.top;
  const k = f.kind(p);
  if (k === K_INF) {
    if (!f.invalid(T0)) return;
    f.copy(p, T0);
    f.pushSlot(T0);
    return;
  }
  if ((f.se[p] & 0x7fff) >= TWO63) { f.status |= SW_C2; return; }
  const tan = code === 2;
  if (k === K_ZERO) {
    // tan ±0 = ±0 and 1; sin ±0 = ±0 and cos = 1.
    f.set(T1, BIAS, 0x80000000, 0);
    f.pushSlot(T1);
    return;
  }
  if (k === K_DENORMAL) {
    f.exc |= FE_DE;
    if ((f.cw & FE_DE) === 0) return;
  }
  const { k: q, r } = reduce(f, p);
  const s = sinSeries(r), c = cosSeries(r);
  if (tan) {
    let v = (q & 1) === 0 ? div(s, c) : neg(div(c, s));
    if (isZero(v)) v = int(0);
    packBF(f, T0, v, false);
    f.copy(p, T0);
    const c1 = f.status & SW_C1;
    f.set(T1, BIAS, 0x80000000, 0);
    f.pushSlot(T1);
    f.status = (f.status & ~SW_C1) | c1;
    return;
  }
  const sv = [s, c, neg(s), neg(c)][q];
  const cv = [c, neg(s), neg(c), s][q];
  packBF(f, T0, sv, false);
  const c1s = f.status & SW_C1;
  packBF(f, T1, cv, false);
  f.status |= c1s;
  f.copy(p, T0);
  f.pushSlot(T1);
}

