// The x87 floating-point unit: 80-bit register stack, control/status/tag words, the last
// instruction and operand pointers, and execution of the escape opcodes D8–DF, the FWAIT
// pending-exception check, and FXSAVE/FXRSTOR (0F AE). Semantics follow the Intel SDM (vol. 1
// ch. 8, vol. 2 instruction pages); details the SDM leaves to the implementation were checked
// against a physical x87 (see tools/gen-fpu-fixtures.c).
//
// Registers are stored BigInt-free: a 16-bit sign/exponent and a 64-bit significand in two uint32
// halves per physical register. Slots 8–15 of the same arrays are scratch values. Arithmetic
// results are formed exactly and rounded once (fpu-soft.ts).

import {
  CR0_EM, CR0_NE, CR0_TS, CS, EAX, F_AF, F_CF, F_OF, F_PF, F_SF, F_ZF, GP, MF, NM, UD,
} from './constants.js';
import type { Cpu } from './cpu.js';
import type { Insn } from './decoder.js';
import { ea } from './ops.js';
import {
  BIAS, BIAS63, CONST_L2E, CONST_L2T, CONST_LG2, CONST_LN2, CONST_PI, FE_DE, FE_IE, FE_OE, FE_UE,
  FE_ZE, K_DENORMAL, K_EMPTY, K_INF, K_NORMAL, K_QNAN, K_SNAN, K_UNSUPPORTED, K_ZERO, RC_DOWN, Rounded,
  SW_B, SW_C0, SW_C1, SW_C2, SW_C3, SW_ES, SW_SF, bitLength, classify, constSig, isNaNClass, round,
  roundToInt, T0, T1, toBig, twoResultPrologue, type Const66,
} from './fpu-soft.js';
import { x87Transcendental } from './fpu-trans.js';

export { T0, T1, T2, T3 } from './fpu-soft.js';

const CC_GT = 0, CC_LT = 1, CC_EQ = 2, CC_UN = 3;
/** C3/C2/C0 for greater, less, equal, unordered. */
const CC_BITS = [0, SW_C0, SW_C3, SW_C3 | SW_C2 | SW_C0];
/** ZF/PF/CF for the same. */
const CC_EFLAGS = [0, F_CF, F_ZF, F_ZF | F_PF | F_CF];

const MXCSR_MASK = 0xffbf;

import type { FpuState } from '../hv/types.js';

export type { FpuState };

export class X87 {
  /** Sign (bit 15) and biased exponent per slot; 0–7 are the physical registers R0–R7. */
  readonly se = new Uint16Array(16);
  /** Significand bits 63–32. */
  readonly hi = new Uint32Array(16);
  /** Significand bits 31–0. */
  readonly lo = new Uint32Array(16);
  /** Bit p set: physical register p is empty (tag 11). */
  empty = 0xff;
  /** Top-of-stack pointer. */
  top = 0;
  /** Control word. */
  cw = 0x037f;
  /** Status word without the TOP field (see `sw`). */
  status = 0;
  /** Last non-control instruction: offset, CS selector, opcode (11 bits). */
  fip = 0;
  fcs = 0;
  fop = 0;
  /** Its memory operand: offset and segment selector. */
  fdp = 0;
  fds = 0;
  /** MXCSR storage for FXSAVE/FXRSTOR (no SSE execution). */
  mxcsr = 0x1f80;
  /** Exceptions raised by the instruction being executed. */
  exc = 0;
  readonly rnd = new Rounded();

  /** Power-on and INIT leave the FPU as FNINIT does (what QEMU and KVM give a new vCPU). */
  reset(): void {
    this.finit();
    this.mxcsr = 0x1f80;
    this.se.fill(0);
    this.hi.fill(0);
    this.lo.fill(0);
  }

  finit(): void {
    this.cw = 0x037f;
    this.status = 0;
    this.top = 0;
    this.empty = 0xff;
    this.fip = 0; this.fcs = 0; this.fop = 0; this.fdp = 0; this.fds = 0;
  }

  /** The status word with TOP. */
  get sw(): number {
    return (this.status & ~0x3800) | (this.top << 11);
  }

  set sw(v: number) {
    this.top = (v >> 11) & 7;
    this.status = v & 0xc7ff;
  }

  /** The full tag word, derived from the register contents (00 valid, 01 zero, 10 special, 11 empty). */
  get tw(): number {
    let t = 0;
    for (let p = 0; p < 8; p++) t |= this.tagOf(p) << (p * 2);
    return t;
  }

  /** Only empty / non-empty matters when a tag word is loaded (FLDENV, FRSTOR). */
  set tw(v: number) {
    let e = 0;
    for (let p = 0; p < 8; p++) if (((v >> (p * 2)) & 3) === 3) e |= 1 << p;
    this.empty = e;
  }

  tagOf(p: number): number {
    if (((this.empty >> p) & 1) !== 0) return 3;
    const k = this.kind(p);
    return k === K_NORMAL ? 0 : k === K_ZERO ? 1 : 2;
  }

  getState(): FpuState {
    const fpr: number[][] = [];
    for (let k = 0; k < 8; k++) {
      const p = (this.top + k) & 7;
      const lo = this.lo[p], hi = this.hi[p], se = this.se[p];
      fpr.push([lo & 0xff, (lo >>> 8) & 0xff, (lo >>> 16) & 0xff, lo >>> 24, hi & 0xff, (hi >>> 8) & 0xff,
        (hi >>> 16) & 0xff, hi >>> 24, se & 0xff, se >>> 8]);
    }
    return {
      fpr, fcw: this.cw, fsw: this.sw, ftwx: ~this.empty & 0xff, lastOpcode: this.fop, lastIp: this.fip >>> 0,
      lastCs: this.fcs, lastDp: this.fdp >>> 0, lastDs: this.fds, mxcsr: this.mxcsr,
    };
  }

  setState(s: FpuState): void {
    this.cw = (s.fcw & 0x1f3f) | 0x40;
    this.sw = s.fsw & 0xffff;
    this.empty = ~s.ftwx & 0xff;
    this.fop = s.lastOpcode & 0x7ff;
    this.fip = s.lastIp | 0; this.fcs = s.lastCs & 0xffff;
    this.fdp = s.lastDp | 0; this.fds = s.lastDs & 0xffff;
    this.mxcsr = s.mxcsr & MXCSR_MASK;
    for (let k = 0; k < 8; k++) {
      const p = (this.top + k) & 7;
      const b = s.fpr[k];
      this.set(p, b[8] | (b[9] << 8), (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0,
        (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0);
    }
    this.updateEs();
  }

  /** ST(i) as [sign/exponent, significand high, significand low], or null when empty (debugging, tests). */
  st(i: number): [number, number, number] | null {
    const p = (this.top + i) & 7;
    if (((this.empty >> p) & 1) !== 0) return null;
    return [this.se[p], this.hi[p], this.lo[p]];
  }

  // --- slots

  ph(i: number): number { return (this.top + i) & 7; }
  isEmpty(i: number): boolean { return ((this.empty >> ((this.top + i) & 7)) & 1) !== 0; }
  kind(s: number): number { return classify(this.se[s], this.hi[s], this.lo[s]); }
  sign(s: number): number { return this.se[s] >>> 15; }
  /** Exponent of the significand's least significant bit (denormals use the minimum exponent). */
  lsbExp(s: number): number { const e = this.se[s] & 0x7fff; return (e === 0 ? 1 : e) - BIAS63; }
  big(s: number): bigint { return toBig(this.hi[s], this.lo[s]); }

  copy(d: number, s: number): void {
    this.se[d] = this.se[s]; this.hi[d] = this.hi[s]; this.lo[d] = this.lo[s];
  }

  set(d: number, se: number, hi: number, lo: number): void {
    this.se[d] = se; this.hi[d] = hi; this.lo[d] = lo;
  }

  setIndef(d: number): void { this.set(d, 0xffff, 0xc0000000, 0); }
  setZero(d: number, sign: number): void { this.set(d, sign << 15, 0, 0); }
  setInf(d: number, sign: number): void { this.set(d, (sign << 15) | 0x7fff, 0x80000000, 0); }

  setSig(d: number, se: number, sig: bigint): void {
    this.se[d] = se;
    this.hi[d] = Number(sig >> 32n);
    this.lo[d] = Number(sig & 0xffffffffn);
  }

  /** An exact integer magnitude (< 2^64) as a value. */
  setInt(d: number, sign: number, mag: bigint): void {
    if (mag === 0n) { this.setZero(d, sign); return; }
    const n = bitLength(mag);
    this.setSig(d, (sign << 15) | (BIAS + n - 1), mag << BigInt(64 - n));
  }

  /** An exact 32-bit integer (no BigInt). */
  setInt32(d: number, v: number): void {
    if (v === 0) { this.setZero(d, 0); return; }
    const sign = v < 0 ? 1 : 0;
    const m = Math.abs(v);
    const z = Math.clz32(m);
    this.set(d, (sign << 15) | (BIAS + 31 - z), (m << z) >>> 0, 0);
  }

  /** Write register physical `p` from slot `s` and tag it valid. */
  putPh(p: number, s: number): void {
    if (p !== s) this.copy(p, s);
    this.empty &= ~(1 << p);
  }

  pop(): void {
    this.empty |= 1 << this.top;
    this.top = (this.top + 1) & 7;
  }

  unmasked(bits: number): boolean {
    return (this.exc & bits & ~this.cw) !== 0;
  }

  /** Precision control in significand bits. */
  prec(): number {
    const pc = (this.cw >> 8) & 3;
    return pc === 0 ? 24 : pc === 2 ? 53 : 64;
  }

  rc(): number { return (this.cw >> 10) & 3; }

  setC1(on: boolean): void {
    if (on) this.status |= SW_C1; else this.status &= ~SW_C1;
  }

  /** Merge the instruction's exceptions into the status word; ES and B follow the unmasked flags. */
  commit(): void {
    this.status |= this.exc & 0x7f;
    this.updateEs();
  }

  updateEs(): void {
    if ((this.status & ~this.cw & 0x3f) !== 0) this.status |= SW_ES | SW_B;
    else this.status &= ~(SW_ES | SW_B);
  }

  /** Stack underflow (reading an empty register): IE and SF with C1 = 0. True when masked. */
  underflow(): boolean {
    this.exc |= FE_IE | SW_SF;
    this.status &= ~SW_C1;
    return (this.cw & FE_IE) !== 0;
  }

  /** Stack overflow (pushing onto a full register): IE and SF with C1 = 1. True when masked. */
  overflow(): boolean {
    this.exc |= FE_IE | SW_SF;
    this.status |= SW_C1;
    return (this.cw & FE_IE) !== 0;
  }

  /** Push slot `s` (no check: the caller has checked canPush). */
  pushSlot(s: number): void {
    this.top = (this.top - 1) & 7;
    this.putPh(this.top, s);
  }

  canPush(): boolean {
    return ((this.empty >> ((this.top - 1) & 7)) & 1) !== 0;
  }

  /** The masked response to stack overflow on a push: TOP moves and ST(0) is the indefinite. */
  pushIndef(): void {
    this.top = (this.top - 1) & 7;
    this.setIndef(this.top);
    this.empty &= ~(1 << this.top);
  }

  /**
   * Push `s`, with stack-overflow handling. Returns false (nothing pushed) only when the overflow is
   * unmasked.
   */
  push(s: number): boolean {
    if (!this.canPush()) {
      if (!this.overflow()) return false;
      this.pushIndef();
      return true;
    }
    this.status &= ~SW_C1;
    this.pushSlot(s);
    return true;
  }

  // --- rounding into slots

  /** Round an exact value into slot `d` as a register result (precision control `prec`). */
  packReg(d: number, sign: number, exp: number, sig: bigint, prec: number): void {
    if (sig === 0n) { this.setZero(d, sign); return; }
    const o = this.rnd;
    round(o, sign, exp, sig, 64, prec, BIAS, 0x7ffe, this.rc(), (this.cw & FE_OE) === 0, (this.cw & FE_UE) === 0);
    this.exc |= o.exc;
    if (o.up) this.status |= SW_C1;
    this.setSig(d, (sign << 15) | o.biased, o.sig);
  }

  /** IE with the masked response (the default indefinite in `d`). False when unmasked (abort). */
  invalid(d: number): boolean {
    this.exc |= FE_IE;
    if ((this.cw & FE_IE) === 0) return false;
    this.setIndef(d);
    return true;
  }

  /** DE for a denormal among the classes; true when it is unmasked (abort). */
  denormal(ka: number, kb: number): boolean {
    if (ka === K_DENORMAL || kb === K_DENORMAL) {
      this.exc |= FE_DE;
      return (this.cw & FE_DE) === 0;
    }
    return false;
  }

  /** One NaN or unsupported operand: the result in `d`. False when an unmasked IE aborts. */
  nan1(a: number, ka: number, d: number): boolean {
    if (ka === K_UNSUPPORTED) return this.invalid(d);
    if (ka === K_SNAN) {
      this.exc |= FE_IE;
      if ((this.cw & FE_IE) === 0) return false;
    }
    this.copy(d, a);
    this.hi[d] |= 0x40000000;
    return true;
  }

  /** Two operands of which at least one is a NaN or unsupported (SDM table 4-7, x87 column). */
  nan2(a: number, ka: number, b: number, kb: number, d: number): boolean {
    if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) return this.invalid(d);
    if (ka === K_SNAN || kb === K_SNAN) {
      this.exc |= FE_IE;
      if ((this.cw & FE_IE) === 0) return false;
    }
    let src: number;
    if (isNaNClass(ka) && isNaNClass(kb)) {
      if (ka !== kb) {
        src = ka === K_QNAN ? a : b;
      } else {
        // The larger significand; equal significands: the positive one.
        const ha = this.hi[a] & 0x3fffffff, hb = this.hi[b] & 0x3fffffff;
        const la = this.lo[a], lb = this.lo[b];
        if (ha !== hb) src = ha > hb ? a : b;
        else if (la !== lb) src = la > lb ? a : b;
        else src = this.sign(a) === 0 ? a : b;
      }
    } else {
      src = isNaNClass(ka) ? a : b;
    }
    this.copy(d, src);
    this.hi[d] |= 0x40000000;
    return true;
  }

  // --- arithmetic

  /**
   * d = a op b for op 0 add, 1 mul, 4 sub, 5 subr (b − a), 6 div, 7 divr (b / a), rounded to the
   * precision control. Returns false when an unmasked exception leaves the destination unchanged.
   */
  arith(op: number, a: number, b: number, d: number): boolean {
    if (op === 5 || op === 7) { const t = a; a = b; b = t; op--; }
    const ka = this.kind(a), kb = this.kind(b);
    if (ka >= K_QNAN || kb >= K_QNAN) return this.nan2(a, ka, b, kb, d);
    const sa = this.sign(a);
    if (op === 1) {
      const sign = sa ^ this.sign(b);
      if (ka === K_INF || kb === K_INF) {
        if (ka === K_ZERO || kb === K_ZERO) return this.invalid(d);
        if (this.denormal(ka, kb)) return false;
        this.setInf(d, sign);
        return true;
      }
      if (this.denormal(ka, kb)) return false;
      if (ka === K_ZERO || kb === K_ZERO) { this.setZero(d, sign); return true; }
      this.packReg(d, sign, this.lsbExp(a) + this.lsbExp(b), this.big(a) * this.big(b), this.prec());
      return true;
    }
    if (op === 6) {
      const sign = sa ^ this.sign(b);
      if (ka === K_INF) {
        if (kb === K_INF) return this.invalid(d);
        if (this.denormal(ka, kb)) return false;
        this.setInf(d, sign);
        return true;
      }
      if (kb === K_INF) {
        if (this.denormal(ka, kb)) return false;
        this.setZero(d, sign);
        return true;
      }
      if (kb === K_ZERO) {
        if (ka === K_ZERO) return this.invalid(d);
        this.exc |= FE_ZE;
        if ((this.cw & FE_ZE) === 0) return false;
        this.setInf(d, sign);
        return true;
      }
      if (this.denormal(ka, kb)) return false;
      if (ka === K_ZERO) { this.setZero(d, sign); return true; }
      const A = this.big(a), B = this.big(b);
      const k = 68 + bitLength(B) - bitLength(A);
      const N = A << BigInt(k);
      const q = N / B;
      const sticky = q * B !== N ? 1n : 0n;
      this.packReg(d, sign, this.lsbExp(a) - this.lsbExp(b) - k - 1, (q << 1n) | sticky, this.prec());
      return true;
    }
    // add / sub
    const sb = this.sign(b) ^ (op === 4 ? 1 : 0);
    if (ka === K_INF || kb === K_INF) {
      if (ka === K_INF && kb === K_INF && sa !== sb) return this.invalid(d);
      if (this.denormal(ka, kb)) return false;
      this.setInf(d, ka === K_INF ? sa : sb);
      return true;
    }
    if (this.denormal(ka, kb)) return false;
    if (ka === K_ZERO && kb === K_ZERO) {
      this.setZero(d, sa === sb ? sa : this.rc() === RC_DOWN ? 1 : 0);
      return true;
    }
    const prec = this.prec();
    if (ka === K_ZERO) { this.packReg(d, sb, this.lsbExp(b), this.big(b), prec); return true; }
    if (kb === K_ZERO) { this.packReg(d, sa, this.lsbExp(a), this.big(a), prec); return true; }
    let ea = this.lsbExp(a), eb = this.lsbExp(b);
    let A = this.big(a), B = this.big(b);
    // An operand far below the other only contributes a sticky bit.
    if (ea - eb > 140) { B = 1n; eb = ea - 140; } else if (eb - ea > 140) { A = 1n; ea = eb - 140; }
    const e = Math.min(ea, eb);
    A <<= BigInt(ea - e);
    B <<= BigInt(eb - e);
    let s = (sa !== 0 ? -A : A) + (sb !== 0 ? -B : B);
    if (s === 0n) {
      this.setZero(d, this.rc() === RC_DOWN ? 1 : 0);
      return true;
    }
    let sign = 0;
    if (s < 0n) { sign = 1; s = -s; }
    this.packReg(d, sign, e, s, prec);
    return true;
  }

  /** d = sqrt(a), rounded to the precision control. */
  sqrt(a: number, d: number): boolean {
    const ka = this.kind(a);
    if (ka >= K_QNAN) return this.nan1(a, ka, d);
    const sign = this.sign(a);
    if (ka === K_ZERO) { this.copy(d, a); return true; }
    if (sign !== 0) return this.invalid(d);
    if (ka === K_INF) { this.copy(d, a); return true; }
    if (this.denormal(ka, ka)) return false;
    let e = this.lsbExp(a);
    let m = this.big(a);
    if ((e & 1) !== 0) { m <<= 1n; e -= 1; }
    // 2k extra bits so the root has at least 66 significant bits.
    const k = 70;
    const N = m << BigInt(2 * k);
    const r = isqrt(N);
    const sticky = r * r !== N ? 1n : 0n;
    this.packReg(d, 0, (e >> 1) - k - 1, (r << 1n) | sticky, this.prec());
    return true;
  }

  /**
   * Compare a with b: CC_GT/LT/EQ/UN, or -1 when an unmasked exception aborts. `quiet`: only SNaNs
   * are invalid (FUCOM); otherwise any NaN is (FCOM).
   */
  compare(a: number, b: number, quiet: boolean): number {
    const ka = this.kind(a), kb = this.kind(b);
    if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED || ka === K_SNAN || kb === K_SNAN ||
        (!quiet && (ka === K_QNAN || kb === K_QNAN))) {
      this.exc |= FE_IE;
      return (this.cw & FE_IE) === 0 ? -1 : CC_UN;
    }
    if (ka === K_QNAN || kb === K_QNAN) return CC_UN;
    if (this.denormal(ka, kb)) return -1;
    return this.compareValues(a, ka, b, kb);
  }

  /** Order of two non-NaN values. */
  compareValues(a: number, ka: number, b: number, kb: number): number {
    if (ka === K_ZERO && kb === K_ZERO) return CC_EQ;
    const sa = ka === K_ZERO ? (this.sign(b) ^ 1) : this.sign(a);
    const sb = kb === K_ZERO ? (sa ^ 1) : this.sign(b);
    if (sa !== sb) return sa !== 0 ? CC_LT : CC_GT;
    const mag = this.compareMag(a, ka, b, kb);
    if (mag === 0) return CC_EQ;
    return (mag > 0) !== (sa !== 0) ? CC_GT : CC_LT;
  }

  /** Sign of |a| − |b| for non-NaN values. */
  private compareMag(a: number, ka: number, b: number, kb: number): number {
    if (ka === K_INF || kb === K_INF) return ka === kb ? 0 : ka === K_INF ? 1 : -1;
    if (ka === K_ZERO) return kb === K_ZERO ? 0 : -1;
    if (kb === K_ZERO) return 1;
    if (ka === K_NORMAL && kb === K_NORMAL) {
      const ea = this.se[a] & 0x7fff, eb = this.se[b] & 0x7fff;
      if (ea !== eb) return ea > eb ? 1 : -1;
      if (this.hi[a] !== this.hi[b]) return this.hi[a] > this.hi[b] ? 1 : -1;
      if (this.lo[a] !== this.lo[b]) return this.lo[a] > this.lo[b] ? 1 : -1;
      return 0;
    }
    const A = this.big(a), B = this.big(b);
    const ma = this.lsbExp(a) + bitLength(A), mb = this.lsbExp(b) + bitLength(B);
    if (ma !== mb) return ma > mb ? 1 : -1;
    const ea = this.lsbExp(a), eb = this.lsbExp(b);
    const e = Math.min(ea, eb);
    const x = A << BigInt(ea - e), y = B << BigInt(eb - e);
    return x === y ? 0 : x > y ? 1 : -1;
  }

  // --- memory formats

  /** Load a single-precision value (exact); DE for a denormal. SNaNs stay signalling. */
  loadF32(d: number, v: number): void {
    const sign = v >>> 31;
    const e = (v >>> 23) & 0xff;
    const f = v & 0x7fffff;
    if (e === 0xff) {
      this.set(d, (sign << 15) | 0x7fff, (0x80000000 | (f << 8)) >>> 0, 0);
    } else if (e === 0) {
      if (f === 0) { this.setZero(d, sign); return; }
      this.exc |= FE_DE;
      const z = Math.clz32(f);
      // f × 2^-149; normalised: bit 31 of (f << z) is bit 63 of the significand.
      this.set(d, (sign << 15) | (BIAS - 149 + 31 - z), (f << z) >>> 0, 0);
    } else {
      this.set(d, (sign << 15) | (e - 127 + BIAS), (0x80000000 | (f << 8)) >>> 0, 0);
    }
  }

  /** Load a double-precision value from its two halves. */
  loadF64(d: number, lo: number, hi: number): void {
    const sign = hi >>> 31;
    const e = (hi >>> 20) & 0x7ff;
    const fh = hi & 0xfffff;
    if (e === 0x7ff) {
      this.set(d, (sign << 15) | 0x7fff, (0x80000000 | (fh << 11) | (lo >>> 21)) >>> 0, (lo << 11) >>> 0);
    } else if (e === 0) {
      if ((fh | lo) === 0) { this.setZero(d, sign); return; }
      this.exc |= FE_DE;
      const m = (BigInt(fh) << 32n) | BigInt(lo >>> 0);
      const n = bitLength(m);
      this.setSig(d, (sign << 15) | (BIAS - 1074 + n - 1), m << BigInt(64 - n));
    } else {
      this.set(d, (sign << 15) | (e - 1023 + BIAS), (0x80000000 | (fh << 11) | (lo >>> 21)) >>> 0, (lo << 11) >>> 0);
    }
  }

  /**
   * Convert slot `s` to a single (size 4) or double (size 8) for a store: returns the bits in
   * outLo/outHi, or false when an unmasked exception suppresses the store.
   */
  storeFloat(s: number, size: number): boolean {
    const k = this.kind(s);
    const sign = this.sign(s);
    const single = size === 4;
    let lo = 0, hi = 0;
    if (k === K_UNSUPPORTED) {
      this.exc |= FE_IE;
      if ((this.cw & FE_IE) === 0) return false;
      hi = single ? 0xffc00000 : 0xfff80000;
    } else if (k === K_SNAN || k === K_QNAN) {
      if (k === K_SNAN) {
        this.exc |= FE_IE;
        if ((this.cw & FE_IE) === 0) return false;
      }
      const h = this.hi[s] | 0x40000000;
      if (single) hi = (sign << 31) | 0x7f800000 | ((h >>> 8) & 0x7fffff);
      else { hi = (sign << 31) | 0x7ff00000 | ((h >>> 11) & 0xfffff); lo = ((h << 21) | (this.lo[s] >>> 11)) >>> 0; }
    } else if (k === K_INF) {
      hi = (sign << 31) | (single ? 0x7f800000 : 0x7ff00000);
    } else if (k === K_ZERO) {
      hi = sign << 31;
    } else {
      const o = this.rnd;
      const field = single ? 24 : 53;
      const bias = single ? 127 : 1023;
      const emax = single ? 254 : 2046;
      round(o, sign, this.lsbExp(s), this.big(s), field, field, bias, emax, this.rc(), false, false);
      // An unmasked overflow or underflow stores nothing (the operand stays on the stack).
      if ((o.exc & FE_OE) !== 0 && (this.cw & FE_OE) === 0) { this.exc |= FE_OE; return false; }
      if (o.tiny && (this.cw & FE_UE) === 0) { this.exc |= FE_UE; return false; }
      this.exc |= o.exc;
      if (o.up) this.status |= SW_C1;
      if (single) {
        hi = (sign << 31) | (o.biased << 23) | (Number(o.sig) & 0x7fffff);
      } else {
        const frac = o.sig & 0xfffffffffffffn;
        hi = (sign << 31) | (o.biased << 20) | Number(frac >> 32n);
        lo = Number(frac & 0xffffffffn);
      }
    }
    this.outLo = lo | 0;
    this.outHi = hi | 0;
    return true;
  }

  outLo = 0;
  outHi = 0;

  /**
   * Convert slot `s` to a signed integer of `bits` (16, 32, 64) rounded by RC: the value in
   * outLo/outHi; out-of-range, NaN and infinity give IE (masked: the integer indefinite). False
   * when an unmasked IE suppresses the store.
   */
  storeInt(s: number, bits: number): boolean {
    const k = this.kind(s);
    let ok = k === K_NORMAL || k === K_DENORMAL || k === K_ZERO;
    let v = 0n;
    const sign = this.sign(s);
    if (ok && k !== K_ZERO) {
      const o = this.rnd;
      const mag = roundToInt(o, sign, this.lsbExp(s), this.big(s), this.rc());
      const limit = 1n << BigInt(bits - 1);
      if (mag > limit || (mag === limit && sign === 0)) {
        ok = false;
      } else {
        this.exc |= o.exc;
        if (o.up) this.status |= SW_C1;
        v = sign !== 0 ? -mag : mag;
      }
    }
    if (!ok) {
      this.exc |= FE_IE;
      if ((this.cw & FE_IE) === 0) return false;
      v = -(1n << BigInt(bits - 1));
    }
    const u = BigInt.asUintN(64, v);
    this.outLo = Number(u & 0xffffffffn) | 0;
    this.outHi = Number(u >> 32n) | 0;
    return true;
  }
}

// =================================================================================================
// Instruction execution

/** The pending-exception check of a waiting instruction (and FWAIT): #MF, or FERR# when CR0.NE = 0. */
export function x87Pending(c: Cpu): void {
  if ((c.x87.status & SW_ES) === 0) return;
  if ((c.cr0 & CR0_NE) !== 0) c.raise(MF, -1);
  c.internalError('unmasked x87 exception pending with CR0.NE=0: reporting it through FERR#/IRQ13 (the PIC) is not implemented');
}

/** Record FIP/FCS/FOP for a non-control instruction. */
function recordIp(c: Cpu, f: X87, i: Insn): void {
  f.fip = c.eip;
  f.fcs = c.segSel[CS];
  f.fop = ((i.op & 7) << 8) | (i.modrm & 0xff);
}

/** Record the memory operand pointer; returns the offset. */
function recordDp(c: Cpu, f: X87, i: Insn): number {
  const off = ea(c, i);
  f.fdp = off;
  f.fds = c.segSel[i.seg];
  return off;
}

function ud(c: Cpu): never {
  return c.raise(UD, -1);
}

/** Execute an x87 escape instruction (D8–DF). CR0.EM/TS have been checked by the caller. */
export function x87Execute(c: Cpu, i: Insn): void {
  const f = c.x87;
  const esc = i.op & 7;
  const m = i.modrm;
  // Non-waiting (control) instructions skip the pending-exception check and keep FIP/FDP.
  if (i.mod !== 3) {
    if ((esc === 1 && i.reg >= 4) || (esc === 5 && (i.reg === 4 || i.reg === 6 || i.reg === 7))) {
      control(c, f, i, esc);
      return;
    }
  } else if ((esc === 3 && m >= 0xe0 && m <= 0xe4) || (esc === 7 && m === 0xe0)) {
    control(c, f, i, esc);
    return;
  }
  x87Pending(c);
  f.exc = 0;
  recordIp(c, f, i);
  if (i.mod !== 3) {
    memOp(c, f, i, esc);
  } else {
    regOp(c, f, i, esc);
  }
  f.commit();
}

// --- control instructions

function control(c: Cpu, f: X87, i: Insn, esc: number): void {
  if (i.mod === 3) {
    if (esc === 7) { // FNSTSW AX
      c.regs16[EAX << 2] = f.sw;
      return;
    }
    switch (i.modrm) {
      case 0xe2: f.status &= ~(0x7f | SW_ES | SW_B); return; // FNCLEX
      case 0xe3: f.finit(); return; // FNINIT
      default: return; // FNENI, FNDISI, FNSETPM: no-ops since the 387
    }
  }
  const real = !c.pmode;
  if (esc === 1) {
    switch (i.reg) {
      case 4: { // FLDENV
        x87Pending(c);
        const off = ea(c, i);
        loadEnv(c, f, i.seg, off, i.osz === 4, real);
        f.updateEs();
        return;
      }
      case 5: { // FLDCW
        x87Pending(c);
        f.cw = (c.read16(i.seg, ea(c, i)) & 0x1f3f) | 0x40;
        f.updateEs();
        return;
      }
      case 6: { // FNSTENV
        const off = ea(c, i);
        c.probeWrite(i.seg, off, i.osz === 4 ? 28 : 14);
        storeEnv(c, f, i.seg, off, i.osz === 4, real);
        f.cw |= 0x3f;
        f.updateEs();
        return;
      }
      default: // FNSTCW
        c.write16(i.seg, ea(c, i), f.cw);
        return;
    }
  }
  // DD
  switch (i.reg) {
    case 4: { // FRSTOR
      x87Pending(c);
      const off = ea(c, i);
      const envSize = i.osz === 4 ? 28 : 14;
      const regs: number[] = [];
      for (let k = 0; k < 8; k++) {
        const a = (off + envSize + k * 10) | 0;
        regs.push(c.read32(i.seg, a), c.read32(i.seg, (a + 4) | 0), c.read16(i.seg, (a + 8) | 0));
      }
      loadEnv(c, f, i.seg, off, i.osz === 4, real);
      for (let k = 0; k < 8; k++) {
        const p = (f.top + k) & 7;
        f.set(p, regs[k * 3 + 2], regs[k * 3 + 1] >>> 0, regs[k * 3] >>> 0);
      }
      f.updateEs();
      return;
    }
    case 6: { // FNSAVE
      const off = ea(c, i);
      const envSize = i.osz === 4 ? 28 : 14;
      c.probeWrite(i.seg, off, envSize + 80);
      storeEnv(c, f, i.seg, off, i.osz === 4, real);
      for (let k = 0; k < 8; k++) {
        const p = (f.top + k) & 7;
        const a = (off + envSize + k * 10) | 0;
        c.write32(i.seg, a, f.lo[p]);
        c.write32(i.seg, (a + 4) | 0, f.hi[p]);
        c.write16(i.seg, (a + 8) | 0, f.se[p]);
      }
      f.finit();
      return;
    }
    default: // FNSTSW m16
      c.write16(i.seg, ea(c, i), f.sw);
  }
}

/** FSTENV image: 14 bytes (16-bit) or 28 (32-bit), protected- or real-mode layout. */
function storeEnv(c: Cpu, f: X87, seg: number, off: number, o32: boolean, real: boolean): void {
  const w = (k: number, v: number) => c.write16(seg, (off + k) | 0, v);
  const d = (k: number, v: number) => c.write32(seg, (off + k) | 0, v);
  const fipLin = real ? ((f.fcs << 4) + f.fip) | 0 : f.fip;
  const fdpLin = real ? ((f.fds << 4) + f.fdp) | 0 : f.fdp;
  if (o32) {
    d(0, 0xffff0000 | f.cw);
    d(4, 0xffff0000 | f.sw);
    d(8, 0xffff0000 | f.tw);
    if (real) {
      d(12, 0xffff0000 | (fipLin & 0xffff));
      d(16, ((fipLin >>> 16) << 12) | f.fop);
      d(20, 0xffff0000 | (fdpLin & 0xffff));
      d(24, (fdpLin >>> 16) << 12);
    } else {
      d(12, f.fip);
      d(16, f.fcs | (f.fop << 16));
      d(20, f.fdp);
      d(24, 0xffff0000 | f.fds);
    }
  } else {
    w(0, f.cw);
    w(2, f.sw);
    w(4, f.tw);
    if (real) {
      w(6, fipLin & 0xffff);
      w(8, (((fipLin >>> 16) & 0xf) << 12) | f.fop);
      w(10, fdpLin & 0xffff);
      w(12, ((fdpLin >>> 16) & 0xf) << 12);
    } else {
      w(6, f.fip & 0xffff);
      w(8, f.fcs);
      w(10, f.fdp & 0xffff);
      w(12, f.fds);
    }
  }
}

function loadEnv(c: Cpu, f: X87, seg: number, off: number, o32: boolean, real: boolean): void {
  const r16 = (k: number) => c.read16(seg, (off + k) | 0);
  const r32 = (k: number) => c.read32(seg, (off + k) | 0);
  let cw: number, sw: number, tw: number, fip: number, fcs: number, fop: number, fdp: number, fds: number;
  if (o32) {
    cw = r16(0); sw = r16(4); tw = r16(8);
    if (real) {
      const a = r32(12), b = r32(16), cc = r32(20), dd = r32(24);
      fip = (a & 0xffff) | (((b >>> 12) & 0xffff) << 16); fcs = 0; fop = b & 0x7ff;
      fdp = (cc & 0xffff) | (((dd >>> 12) & 0xffff) << 16); fds = 0;
    } else {
      fip = r32(12); const b = r32(16); fcs = b & 0xffff; fop = (b >>> 16) & 0x7ff;
      fdp = r32(20); fds = r16(24);
    }
  } else {
    cw = r16(0); sw = r16(2); tw = r16(4);
    if (real) {
      const b = r16(8), dd = r16(12);
      fip = r16(6) | (((b >>> 12) & 0xf) << 16); fcs = 0; fop = b & 0x7ff;
      fdp = r16(10) | (((dd >>> 12) & 0xf) << 16); fds = 0;
    } else {
      fip = r16(6); fcs = r16(8); fop = 0; fdp = r16(10); fds = r16(12);
    }
  }
  f.cw = (cw & 0x1f3f) | 0x40;
  f.sw = sw;
  f.tw = tw;
  f.fip = fip | 0; f.fcs = fcs; f.fop = fop; f.fdp = fdp | 0; f.fds = fds;
}

// --- memory-operand instructions

function memOp(c: Cpu, f: X87, i: Insn, esc: number): void {
  const reg = i.reg;
  switch (esc) {
    case 0: case 2: case 4: case 6: {
      // Arithmetic and compares with m32fp (D8), m32int (DA), m64fp (DC), m16int (DE).
      const off = recordDp(c, f, i);
      if (esc === 0) f.loadF32(T1, c.read32(i.seg, off));
      else if (esc === 4) f.loadF64(T1, c.read32(i.seg, off), c.read32(i.seg, (off + 4) | 0));
      else if (esc === 2) f.setInt32(T1, c.read32(i.seg, off));
      else f.setInt32(T1, (c.read16(i.seg, off) << 16) >> 16);
      if (reg === 2 || reg === 3) fcom(f, T1, false, false, reg === 3 ? 1 : 0);
      else arithOp(f, reg, T1, false, f.top, false);
      return;
    }
    case 1:
      switch (reg) {
        case 0: { // FLD m32fp
          const off = recordDp(c, f, i);
          const v = c.read32(i.seg, off);
          fldConvert(f, () => f.loadF32(T0, v));
          return;
        }
        case 2: case 3: { // FST/FSTP m32fp
          const off = recordDp(c, f, i);
          c.probeWrite(i.seg, off, 4);
          fstFloat(c, f, i.seg, off, 4, reg === 3);
          return;
        }
        default: return ud(c);
      }
    case 3:
      switch (reg) {
        case 0: { // FILD m32int
          const off = recordDp(c, f, i);
          const v = c.read32(i.seg, off);
          if (!f.canPush()) { if (f.overflow()) f.pushIndef(); return; }
          f.setInt32(T0, v);
          f.push(T0);
          return;
        }
        case 2: case 3: fist(c, f, i, 32, reg === 3); return;
        case 5: { // FLD m80fp
          const off = recordDp(c, f, i);
          const lo = c.read32(i.seg, off), hi = c.read32(i.seg, (off + 4) | 0), se = c.read16(i.seg, (off + 8) | 0);
          if (!f.canPush()) { if (f.overflow()) f.pushIndef(); return; }
          f.set(T0, se, hi >>> 0, lo >>> 0);
          f.push(T0);
          return;
        }
        case 7: { // FSTP m80fp
          const off = recordDp(c, f, i);
          c.probeWrite(i.seg, off, 10);
          f.status &= ~SW_C1;
          let p = f.top;
          if (f.isEmpty(0)) {
            if (!f.underflow()) return;
            f.setIndef(T0);
            p = T0;
          }
          c.write32(i.seg, off, f.lo[p]);
          c.write32(i.seg, (off + 4) | 0, f.hi[p]);
          c.write16(i.seg, (off + 8) | 0, f.se[p]);
          f.pop();
          return;
        }
        default: return ud(c); // 1 FISTTP (SSE3), 4, 6
      }
    case 5:
      switch (reg) {
        case 0: { // FLD m64fp
          const off = recordDp(c, f, i);
          const lo = c.read32(i.seg, off), hi = c.read32(i.seg, (off + 4) | 0);
          fldConvert(f, () => f.loadF64(T0, lo, hi));
          return;
        }
        case 2: case 3: { // FST/FSTP m64fp
          const off = recordDp(c, f, i);
          c.probeWrite(i.seg, off, 8);
          fstFloat(c, f, i.seg, off, 8, reg === 3);
          return;
        }
        default: return ud(c); // 1 FISTTP (SSE3), 5
      }
    default: // 7
      switch (reg) {
        case 0: { // FILD m16int
          const off = recordDp(c, f, i);
          const v = (c.read16(i.seg, off) << 16) >> 16;
          if (!f.canPush()) { if (f.overflow()) f.pushIndef(); return; }
          f.setInt32(T0, v);
          f.push(T0);
          return;
        }
        case 2: case 3: fist(c, f, i, 16, reg === 3); return;
        case 4: fbld(c, f, i); return;
        case 5: { // FILD m64int
          const off = recordDp(c, f, i);
          const lo = c.read32(i.seg, off), hi = c.read32(i.seg, (off + 4) | 0);
          if (!f.canPush()) { if (f.overflow()) f.pushIndef(); return; }
          const v = BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
          f.setInt(T0, v < 0n ? 1 : 0, v < 0n ? -v : v);
          f.push(T0);
          return;
        }
        case 6: fbstp(c, f, i); return;
        case 7: fist(c, f, i, 64, true); return;
        default: return ud(c); // 1 FISTTP (SSE3)
      }
  }
}

/** FLD of a single or double: stack overflow first, then the conversion (DE, SNaN → IE). */
function fldConvert(f: X87, load: () => void): void {
  if (!f.canPush()) {
    if (f.overflow()) f.pushIndef();
    return;
  }
  load();
  if (f.unmasked(FE_DE)) return;
  const k = f.kind(T0);
  if (k === K_SNAN) {
    if (!f.nan1(T0, k, T0)) return;
  }
  f.push(T0);
}

function fstFloat(c: Cpu, f: X87, seg: number, off: number, size: number, pop: boolean): void {
  f.status &= ~SW_C1;
  if (f.isEmpty(0)) {
    if (!f.underflow()) return;
    if (size === 4) c.write32(seg, off, 0xffc00000 | 0);
    else { c.write32(seg, off, 0); c.write32(seg, (off + 4) | 0, 0xfff80000 | 0); }
    if (pop) f.pop();
    return;
  }
  if (!f.storeFloat(f.top, size)) return;
  if (size === 4) c.write32(seg, off, f.outHi);
  else { c.write32(seg, off, f.outLo); c.write32(seg, (off + 4) | 0, f.outHi); }
  if (pop) f.pop();
}

function fist(c: Cpu, f: X87, i: Insn, bits: number, pop: boolean): void {
  const off = recordDp(c, f, i);
  c.probeWrite(i.seg, off, bits >> 3);
  f.status &= ~SW_C1;
  let ok: boolean;
  if (f.isEmpty(0)) {
    if (!f.underflow()) return;
    f.outLo = bits === 64 ? 0 : bits === 32 ? 0x80000000 | 0 : 0x8000;
    f.outHi = bits === 64 ? 0x80000000 | 0 : 0;
    ok = true;
  } else {
    ok = f.storeInt(f.top, bits);
  }
  if (!ok) return;
  if (bits === 16) c.write16(i.seg, off, f.outLo);
  else if (bits === 32) c.write32(i.seg, off, f.outLo);
  else { c.write32(i.seg, off, f.outLo); c.write32(i.seg, (off + 4) | 0, f.outHi); }
  if (pop) f.pop();
}

function fbld(c: Cpu, f: X87, i: Insn): void {
  const off = recordDp(c, f, i);
  const bytes: number[] = [];
  for (let k = 0; k < 10; k++) bytes.push(c.read8(i.seg, (off + k) | 0));
  if (!f.canPush()) { if (f.overflow()) f.pushIndef(); return; }
  let v = 0n;
  for (let k = 8; k >= 0; k--) v = v * 100n + BigInt((bytes[k] >> 4) * 10 + (bytes[k] & 15));
  f.setInt(T0, bytes[9] >> 7, v);
  f.push(T0);
}

function fbstp(c: Cpu, f: X87, i: Insn): void {
  const off = recordDp(c, f, i);
  c.probeWrite(i.seg, off, 10);
  f.status &= ~SW_C1;
  const out = new Uint8Array(10);
  let indefinite = false;
  if (f.isEmpty(0)) {
    if (!f.underflow()) return;
    indefinite = true;
  } else {
    const k = f.kind(f.top);
    const sign = f.sign(f.top);
    let mag = 0n;
    let ok = k === K_NORMAL || k === K_DENORMAL || k === K_ZERO;
    if (ok && k !== K_ZERO) {
      const o = f.rnd;
      mag = roundToInt(o, sign, f.lsbExp(f.top), f.big(f.top), f.rc());
      if (mag >= 10n ** 18n) ok = false;
      else { f.exc |= o.exc; if (o.up) f.status |= SW_C1; }
    }
    if (!ok) {
      f.exc |= FE_IE;
      if ((f.cw & FE_IE) === 0) return;
      indefinite = true;
    } else {
      for (let b = 0; b < 9; b++) {
        const d = Number(mag % 100n);
        mag /= 100n;
        out[b] = ((Math.floor(d / 10)) << 4) | (d % 10);
      }
      out[9] = sign << 7;
    }
  }
  if (indefinite) { out[7] = 0xc0; out[8] = 0xff; out[9] = 0xff; }
  for (let b = 0; b < 10; b++) c.write8(i.seg, (off + b) | 0, out[b]);
  f.pop();
}

/**
 * dst = ST(0) op src for the arithmetic group (reg field 0 add, 1 mul, 4 sub, 5 subr, 6 div,
 * 7 divr, all as ST(0) op operand); `dstPh` is the physical destination; `srcReg` says the source
 * is a register that may be empty.
 */
function arithOp(f: X87, op: number, src: number, srcReg: boolean, dstPh: number, pop: boolean): void {
  f.status &= ~SW_C1;
  if (f.isEmpty(0) || (srcReg && ((f.empty >> src) & 1) !== 0)) {
    if (!f.underflow()) return;
    f.setIndef(dstPh);
    f.empty &= ~(1 << dstPh);
    if (pop) f.pop();
    return;
  }
  if (f.unmasked(FE_DE)) return; // a denormal memory operand
  if (!f.arith(op, f.top, src, T0)) return;
  f.putPh(dstPh, T0);
  if (pop) f.pop();
}

/** FCOM/FCOMP/FCOMPP/FUCOM*: ST(0) against `src`; pops `pops` times. */
function fcom(f: X87, src: number, srcReg: boolean, quiet: boolean, pops: number): void {
  f.status &= ~SW_C1;
  let r: number;
  if (f.isEmpty(0) || (srcReg && ((f.empty >> src) & 1) !== 0)) {
    if (!f.underflow()) return;
    r = CC_UN;
  } else {
    if (f.unmasked(FE_DE)) return;
    r = f.compare(f.top, src, quiet);
    if (r < 0) return;
  }
  f.status = (f.status & ~(SW_C0 | SW_C2 | SW_C3)) | CC_BITS[r];
  for (let k = 0; k < pops; k++) f.pop();
}

/** FCOMI/FUCOMI(P): the result in ZF, PF, CF (OF, SF, AF cleared). */
function fcomi(c: Cpu, f: X87, src: number, quiet: boolean, pop: boolean): void {
  f.status &= ~SW_C1;
  let r: number;
  if (f.isEmpty(0) || ((f.empty >> src) & 1) !== 0) {
    if (!f.underflow()) return;
    r = CC_UN;
  } else {
    r = f.compare(f.top, src, quiet);
    if (r < 0) return;
  }
  c.setArith(CC_EFLAGS[r], F_ZF | F_PF | F_CF | F_OF | F_SF | F_AF);
  if (pop) f.pop();
}

// --- register-operand instructions

function regOp(c: Cpu, f: X87, i: Insn, esc: number): void {
  const reg = i.reg;
  const sti = f.ph(i.rm);
  switch (esc) {
    case 0: // D8: ST(0) = ST(0) op ST(i); FCOM/FCOMP ST(i)
      if (reg === 2 || reg === 3) fcom(f, sti, true, false, reg === 3 ? 1 : 0);
      else arithOp(f, reg, sti, true, f.top, false);
      return;
    case 4: // DC: ST(i) = ST(0) op ST(i) with the operand order of D8 (so reg 4 is FSUBR ST(i),ST(0))
      if (reg === 2 || reg === 3) fcom(f, sti, true, false, reg === 3 ? 1 : 0);
      else arithOp(f, reg, sti, true, sti, false);
      return;
    case 6: // DE: the popping forms
      if (reg === 2) { fcom(f, sti, true, false, 1); return; }
      if (reg === 3) {
        if (i.rm !== 1) return ud(c);
        fcom(f, sti, true, false, 2); // FCOMPP
        return;
      }
      arithOp(f, reg, sti, true, sti, true);
      return;
    case 1: d9reg(c, f, i, sti); return;
    case 2: // DA
      if (reg < 4) { fcmov(c, f, sti, [2, 4, 6, 10][reg]); return; }
      if (reg === 5 && i.rm === 1) { fcom(f, sti, true, true, 2); return; } // FUCOMPP
      return ud(c);
    case 3: // DB
      if (reg < 4) { fcmov(c, f, sti, [3, 5, 7, 11][reg]); return; }
      if (reg === 5) { fcomi(c, f, sti, true, false); return; }
      if (reg === 6) { fcomi(c, f, sti, false, false); return; }
      return ud(c);
    case 5: // DD
      switch (reg) {
        case 0: f.empty |= 1 << sti; return; // FFREE
        case 1: fxch(f, sti); return;
        case 2: case 3: fstReg(f, sti, reg === 3); return;
        case 4: case 5: fcom(f, sti, true, true, reg === 5 ? 1 : 0); return;
        default: return ud(c);
      }
    default: // DF
      switch (reg) {
        case 0: f.empty |= 1 << sti; f.pop(); return; // FFREEP
        case 1: fxch(f, sti); return;
        case 2: case 3: fstReg(f, sti, true); return;
        case 5: fcomi(c, f, sti, true, true); return;
        case 6: fcomi(c, f, sti, false, true); return;
        default: return ud(c);
      }
  }
}

function fcmov(c: Cpu, f: X87, sti: number, cc: number): void {
  f.status &= ~SW_C1;
  if (f.isEmpty(0) || ((f.empty >> sti) & 1) !== 0) {
    if (!f.underflow()) return;
    f.setIndef(f.top);
    f.empty &= ~(1 << f.top);
    return;
  }
  if (c.cond(cc)) f.copy(f.top, sti);
}

function fxch(f: X87, sti: number): void {
  f.status &= ~SW_C1;
  const t = f.top;
  if (((f.empty >> t) & 1) !== 0 || ((f.empty >> sti) & 1) !== 0) {
    if (!f.underflow()) return;
    if (((f.empty >> t) & 1) !== 0) { f.setIndef(t); f.empty &= ~(1 << t); }
    if (((f.empty >> sti) & 1) !== 0) { f.setIndef(sti); f.empty &= ~(1 << sti); }
  }
  f.copy(T0, t);
  f.copy(t, sti);
  f.copy(sti, T0);
}

function fstReg(f: X87, sti: number, pop: boolean): void {
  f.status &= ~SW_C1;
  if (f.isEmpty(0)) {
    if (!f.underflow()) return;
    f.setIndef(sti);
  } else {
    f.copy(sti, f.top);
  }
  f.empty &= ~(1 << sti);
  if (pop) f.pop();
}

const CONSTS: Const66[] = [CONST_L2T, CONST_L2E, CONST_PI, CONST_LG2, CONST_LN2];

function d9reg(c: Cpu, f: X87, i: Insn, sti: number): void {
  switch (i.reg) {
    case 0: { // FLD ST(i)
      if (!f.canPush()) { if (f.overflow()) f.pushIndef(); return; }
      if (((f.empty >> sti) & 1) !== 0) {
        if (f.underflow()) f.pushIndef();
        return;
      }
      f.copy(T0, sti);
      f.push(T0);
      return;
    }
    case 1: fxch(f, sti); return;
    case 2: if (i.rm !== 0) ud(c); return; // FNOP
    case 3: fstReg(f, sti, true); return; // FSTP1 (alias)
    case 4:
      switch (i.rm) {
        case 0: case 1: { // FCHS, FABS
          f.status &= ~SW_C1;
          if (f.isEmpty(0)) {
            if (!f.underflow()) return;
            f.setIndef(f.top);
            return;
          }
          if (i.rm === 0) f.se[f.top] ^= 0x8000;
          else f.se[f.top] &= 0x7fff;
          return;
        }
        case 4: { // FTST
          f.status &= ~SW_C1;
          let r: number;
          if (f.isEmpty(0)) {
            if (!f.underflow()) return;
            r = CC_UN;
          } else {
            f.setZero(T1, 0);
            r = f.compare(f.top, T1, false);
            if (r < 0) return;
          }
          f.status = (f.status & ~(SW_C0 | SW_C2 | SW_C3)) | CC_BITS[r];
          return;
        }
        case 5: { // FXAM
          const p = f.top;
          const k = f.isEmpty(0) ? K_EMPTY : f.kind(p);
          const bits = [SW_C3, SW_C2, SW_C3 | SW_C2, SW_C2 | SW_C0, SW_C0, SW_C0, 0, SW_C3 | SW_C0][k];
          f.status = (f.status & ~(SW_C0 | SW_C1 | SW_C2 | SW_C3)) | bits | (k !== K_EMPTY && f.sign(p) ? SW_C1 : 0);
          return;
        }
        default: return ud(c);
      }
    case 5: { // constants
      if (i.rm === 7) return ud(c);
      if (!f.canPush()) { if (f.overflow()) f.pushIndef(); return; }
      if (i.rm === 0) f.set(T0, BIAS, 0x80000000, 0); // FLD1
      else if (i.rm === 6) f.setZero(T0, 0); // FLDZ
      else {
        const k = CONSTS[i.rm - 1];
        f.setSig(T0, k.exp, constSig(k, f.rc()));
      }
      f.push(T0);
      return;
    }
    case 6:
      if (i.rm === 6) { f.status &= ~SW_C1; f.top = (f.top - 1) & 7; return; } // FDECSTP
      if (i.rm === 7) { f.status &= ~SW_C1; f.top = (f.top + 1) & 7; return; } // FINCSTP
      if (i.rm === 4) { fxtract(f); return; }
      if (i.rm === 5) { fprem(f, true); return; }
      x87Transcendental(f, i.rm); // F2XM1 FYL2X FPTAN FPATAN
      return;
    default: // 7
      switch (i.rm) {
        case 0: fprem(f, false); return;
        case 2: { // FSQRT
          f.status &= ~SW_C1;
          if (f.isEmpty(0)) {
            if (!f.underflow()) return;
            f.setIndef(f.top);
            return;
          }
          if (f.sqrt(f.top, T0)) f.copy(f.top, T0);
          return;
        }
        case 4: frndint(f); return;
        case 5: fscale(f); return;
        default: x87Transcendental(f, 8 + i.rm); // FYL2XP1 FSINCOS FSIN FCOS
      }
  }
}

function frndint(f: X87): void {
  f.status &= ~SW_C1;
  if (f.isEmpty(0)) {
    if (!f.underflow()) return;
    f.setIndef(f.top);
    return;
  }
  const p = f.top;
  const k = f.kind(p);
  if (k >= K_QNAN) { if (f.nan1(p, k, T0)) f.copy(p, T0); return; }
  if (k === K_ZERO || k === K_INF) return;
  if (f.denormal(k, k)) return;
  const sign = f.sign(p);
  const e = f.lsbExp(p);
  if (e >= 0) return;
  const o = f.rnd;
  const mag = roundToInt(o, sign, e, f.big(p), f.rc());
  f.exc |= o.exc;
  if (o.up) f.status |= SW_C1;
  f.setInt(p, sign, mag);
}

/**
 * Common start of FSCALE and FPREM/FPREM1 (operands ST(0) and ST(1), result in ST(0)): C1 cleared,
 * an empty operand is a stack underflow, a NaN operand gives the NaN result. False: done already.
 */
function st01Prologue(f: X87): boolean {
  f.status &= ~SW_C1;
  if (f.isEmpty(0) || f.isEmpty(1)) {
    if (f.underflow()) f.setIndef(f.top);
    return false;
  }
  const a = f.top, b = f.ph(1);
  const ka = f.kind(a), kb = f.kind(b);
  if (ka >= K_QNAN || kb >= K_QNAN) {
    if (f.nan2(a, ka, b, kb, T0)) f.copy(a, T0);
    return false;
  }
  return true;
}

function fscale(f: X87): void {
  if (!st01Prologue(f)) return;
  const a = f.top, b = f.ph(1);
  const ka = f.kind(a), kb = f.kind(b);
  const sb = f.sign(b);
  if (kb === K_INF) {
    // ×2^+∞: 0 is invalid, anything else becomes ∞; ×2^−∞: ∞ is invalid, anything else becomes 0.
    if ((sb === 0 && ka === K_ZERO) || (sb !== 0 && ka === K_INF)) { if (f.invalid(T0)) f.copy(a, T0); return; }
    if (f.denormal(ka, ka)) return;
    if (sb === 0) f.setInf(a, f.sign(a));
    else f.setZero(a, f.sign(a));
    return;
  }
  if (f.denormal(ka, kb)) return;
  if (ka === K_ZERO || ka === K_INF) return;
  // The scale: ST(1) truncated toward zero, clamped far past the exponent range.
  let n = 0;
  if (kb !== K_ZERO) {
    const eb = f.lsbExp(b);
    const mb = f.big(b);
    let t: number;
    if (eb >= 0) t = 1 << 20;
    else if (-eb >= 64) t = 0;
    else t = Number(mb >> BigInt(-eb));
    if (t > 1 << 20) t = 1 << 20;
    n = sb !== 0 ? -t : t;
  }
  f.packReg(T0, f.sign(a), f.lsbExp(a) + n, f.big(a), 64);
  f.copy(a, T0);
}

function fxtract(f: X87): void {
  f.status &= ~SW_C1;
  if (!twoResultPrologue(f)) return;
  const p = f.top;
  const k = f.kind(p);
  const sign = f.sign(p);
  if (k === K_ZERO) {
    f.exc |= FE_ZE;
    if ((f.cw & FE_ZE) === 0) return;
    f.setInf(p, 1);
    f.setZero(T0, sign);
    f.pushSlot(T0);
    return;
  }
  if (k === K_INF) {
    f.setInf(p, 0);
    f.setInf(T0, sign);
    f.pushSlot(T0);
    return;
  }
  if (f.denormal(k, k)) return;
  const m = f.big(p);
  const n = bitLength(m);
  const e = f.lsbExp(p) + n - 1;
  f.setSig(T0, (sign << 15) | BIAS, m << BigInt(64 - n));
  f.setInt32(p, e);
  f.pushSlot(T0);
}

function fprem(f: X87, ieee: boolean): void {
  if (!st01Prologue(f)) return;
  const a = f.top, b = f.ph(1);
  const ka = f.kind(a), kb = f.kind(b);
  if (ka === K_INF || kb === K_ZERO) { if (f.invalid(T0)) f.copy(a, T0); return; }
  if (f.denormal(ka, kb)) return;
  f.status &= ~(SW_C0 | SW_C2 | SW_C3);
  if (ka === K_ZERO || kb === K_INF) return;
  const sa = f.sign(a);
  const A = f.big(a), B = f.big(b);
  const la = f.lsbExp(a), lb = f.lsbExp(b);
  const ea = la + bitLength(A), eb = lb + bitLength(B);
  const d = ea - eb;
  if (d < 0 && (!ieee || d < -1)) {
    // |ST(0)| < |ST(1)|: the quotient is 0 and ST(0) the remainder (re-encoded canonically, so a
    // pseudo-denormal comes back with exponent 1).
    f.packReg(T0, sa, la, A, 64);
    f.copy(a, T0);
    f.status &= ~SW_C1;
    return;
  }
  let shift = 0;
  let partial = false;
  if (d >= 64) {
    // Partial remainder: ST(1)·2^(D−N) with N = 32 + (D mod 32), as a physical x87 does.
    partial = true;
    shift = d - (32 + (d & 31));
  }
  // Exact: a = A·2^la, b' = B·2^(lb+shift).
  const lbs = lb + shift;
  const e = Math.min(la, lbs);
  const X = A << BigInt(la - e), Y = B << BigInt(lbs - e);
  let q = X / Y;
  let r = X - q * Y;
  let sign = sa;
  if (ieee && !partial) {
    const r2 = r << 1n;
    if (r2 > Y || (r2 === Y && (q & 1n) === 1n)) {
      q += 1n;
      r = Y - r;
      sign ^= 1;
    }
  }
  if (r === 0n) f.setZero(T0, sa);
  else f.packReg(T0, sign, e, r, 64);
  f.copy(a, T0);
  if (partial) {
    f.status |= SW_C2;
    f.status &= ~SW_C1;
  } else {
    // C0 = Q2, C3 = Q1, C1 = Q0.
    const qi = Number(q & 7n);
    if (qi & 4) f.status |= SW_C0;
    if (qi & 2) f.status |= SW_C3;
    if (qi & 1) f.status |= SW_C1; else f.status &= ~SW_C1;
  }
}

// --- 0F AE: FXSAVE / FXRSTOR

/** 0F AE group: FXSAVE /0, FXRSTOR /1; LDMXCSR, STMXCSR (SSE), fences (SSE2) and the rest are #UD. */
export function x87Group0FAE(c: Cpu, i: Insn): void {
  if (i.mod === 3 || i.reg > 1 || (c.features & (1 << 24)) === 0) ud(c); // FXSR reported by CPUID?
  if ((c.cr0 & CR0_EM) !== 0) ud(c);
  if ((c.cr0 & CR0_TS) !== 0) c.raise(NM, -1);
  const f = c.x87;
  const off = ea(c, i);
  if (((c.segBase[i.seg] + off) & 15) !== 0) c.raise(GP, 0);
  if (i.reg === 0) fxsave(c, f, i.seg, off);
  else fxrstor(c, f, i.seg, off);
}

function fxsave(c: Cpu, f: X87, seg: number, off: number): void {
  c.probeWrite(seg, off, 512);
  const d = (k: number, v: number) => c.write32(seg, (off + k) | 0, v);
  let ftw = 0;
  for (let p = 0; p < 8; p++) if (((f.empty >> p) & 1) === 0) ftw |= 1 << p;
  d(0, f.cw | (f.sw << 16));
  d(4, ftw | (f.fop << 16));
  d(8, f.fip);
  d(12, f.fcs);
  d(16, f.fdp);
  d(20, f.fds);
  d(24, f.mxcsr);
  d(28, MXCSR_MASK);
  for (let k = 0; k < 8; k++) {
    const p = (f.top + k) & 7;
    const a = 32 + k * 16;
    d(a, f.lo[p]);
    d(a + 4, f.hi[p]);
    d(a + 8, f.se[p]);
    d(a + 12, 0);
  }
  // XMM0-7: there is no SSE state, so they are stored as zeros; bytes 288-511 are not written.
  for (let a = 160; a < 288; a += 4) d(a, 0);
}

function fxrstor(c: Cpu, f: X87, seg: number, off: number): void {
  const r = (k: number) => c.read32(seg, (off + k) | 0);
  const w0 = r(0), w1 = r(4), fip = r(8), fcs = r(12), fdp = r(16), fds = r(20), mxcsr = r(24);
  if ((mxcsr & ~MXCSR_MASK) !== 0) c.raise(GP, 0);
  const regs: number[] = [];
  for (let k = 0; k < 8; k++) regs.push(r(32 + k * 16), r(36 + k * 16), r(40 + k * 16) & 0xffff);
  f.cw = (w0 & 0x1f3f) | 0x40;
  f.sw = w0 >>> 16;
  let e = 0;
  for (let p = 0; p < 8; p++) if (((w1 >> p) & 1) === 0) e |= 1 << p;
  f.empty = e;
  f.fop = (w1 >>> 16) & 0x7ff;
  f.fip = fip;
  f.fcs = fcs & 0xffff;
  f.fdp = fdp;
  f.fds = fds & 0xffff;
  f.mxcsr = mxcsr;
  for (let k = 0; k < 8; k++) {
    const p = (f.top + k) & 7;
    f.set(p, regs[k * 3 + 2], regs[k * 3 + 1] >>> 0, regs[k * 3] >>> 0);
  }
  f.updateEs();
}

/** Integer square root of a non-negative BigInt (floor). */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  // Start above the root (from a double estimate) and run Newton's iteration down.
  const bits = bitLength(n);
  let x = 1n << BigInt((bits >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

