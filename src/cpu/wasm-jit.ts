// The WebAssembly block compiler: a hot decoded block becomes one WebAssembly module whose
// function runs it (and goes round again when the block branches back to its own start), over
// the machine's one memory (state.ts): general registers, the lazy-flag record and the TLB are
// loaded and stored in place, guest RAM is read and written through the TLB's fast path inline.
// Everything else — memory slow paths, flags that live in the EFLAGS field, instructions the
// compiler does not inline — goes through imported functions into the interpreter's code, so the
// semantics stay in one place.
//
// Its contract with Cpu.runBlock is that of the JavaScript compiler (jit.ts): `(c, limit) =>
// boolean`, false having done nothing when a segment it assumed flat no longer is; c.eip at the
// instruction that faulted or exited; instructionCount brought up to date by the completed passes
// before every imported call (so that a fault, an exit, RDTSC see the right count); the block runs
// again only when c.brk is clear and it fits whole in the budget.

import { CS, ES, F_ARITH, SS } from './constants.js';
import type { Cpu, Handler } from './cpu.js';
import { Block, endsBlock, relativeBranch, type Insn } from './decoder.js';
import { ud } from './ops.js';
import { CPUID_CMOV } from './cpuid.js';
import {
  S_SEG_BASE, LAZY_CIN, LAZY_A, LAZY_B, LAZY_MASK, LAZY_OP, LAZY_RES, LAZY_SIGN, LAZY_STALE, RAM_OFFSET, S_GPR, S_JIT,
  S_LAZY, TLB_OFFSET, I_FLAGS } from './state.js';
import { buildModule, Code, Op, type FuncType } from './wasm-encode.js';

/**
 * A compiled unit, as Cpu.runBlock calls it: false, having done nothing, when a segment it
 * assumed flat no longer is (or, spanning blocks, CS is not 4 GiB); true when it ran.
 */
export type Compiled = (c: Cpu, limit: number) => boolean;

/** Bit in Cpu.flatBits for a segment that is base 0, 4 GiB, expand-up, read/write (SS: and 32-bit). */
export function flatBit(seg: number): number {
  return 1 << seg;
}

/** Bit in Cpu.flatBits for a segment that is 4 GiB, expand-up, read/write, whatever its base. */
export function bigBit(seg: number): number {
  return 1 << (seg + 8);
}

/** Where a block's last instruction may continue: its static targets (offsets), or anywhere. */
function successors(i: Insn, nextDelta: number): { targets: number[]; dynamic: boolean } {
  const op = i.op;
  if (i.osz !== 4) return { targets: [], dynamic: false };
  const branch = relativeBranch(i);
  if (branch !== null) {
    const taken = nextDelta + branch.disp;
    return { targets: branch.conditional ? [taken, nextDelta] : [taken], dynamic: false };
  }
  if (op === 0xc3 || op === 0xc2 || (op === 0xff && (i.reg === 2 || i.reg === 4))) return { targets: [], dynamic: true };
  if (!endsBlock(op, i.reg)) return { targets: [nextDelta], dynamic: false };
  return { targets: [], dynamic: false };
}

// Lazy-flag operation codes (as in cpu.ts).
const L_ADD = 1, L_ADC = 2, L_SUB = 3, L_SBB = 4, L_LOGIC = 5;

/** Scratch cells at S_JIT (i32): the EIP and count a run ends with, brk, the last handler's nextEip. */
const J_EIP = 0, J_N = 4, J_BRK = 8, J_NEXT = 12, J_BLK = 16;
/** The imports of every module, in this order (their indices), with their parameter and result counts. */
const SHARED = [
  ['rd8', 5, 1], ['rd16', 5, 1], ['rd32', 5, 1],
  ['wr8', 6, 0], ['wr16', 6, 0], ['wr32', 6, 0],
  ['probe', 6, 0], ['cond', 1, 1], ['keep', 1, 0],
] as const;
const F_RD = 0, F_WR = 3, F_PROBE = 6, F_COND = 7, F_KEEP = 8;

// Locals: the parameters, then the run's own.
const L_E0 = 0, L_ROOM = 1, L_RM = 2, L_RW = 3, L_WM = 4, L_WW = 5, L_N = 6, L_PC = 7, L_B = 8;
/** The locals of EAX..EDI. */
const R_LOCAL = 9;
const FIRST_TMP = 17;

interface FlagRec { ranges: number[]; writes: number; reads: number; sync: boolean }

function newRec(): FlagRec {
  return { ranges: [], writes: 0, reads: 0, sync: false };
}

interface FlagState {
  op: 'add' | 'sub' | 'logic' | 'incdec';
  a: number;
  b: number;
  r: number;
  size: number;
}

function mask(size: number): number {
  return size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
}

function sign(size: number): number {
  return size === 4 ? (0x80000000 | 0) : size === 2 ? 0x8000 : 0x80;
}

class Gen {
  readonly c = new Code();
  private locals = FIRST_TMP;
  assumed = 0;
  /** The code relies on a 4 GiB CS (checked at entry). */
  flatCs = false;
  /**
   * The current instruction's flag bookkeeping, for flag liveness: the byte ranges of the code
   * that records its flags (lazy record, EFLAGS stores), the EFLAGS bits that code writes, the
   * bits the instruction reads from the state, and whether it makes every flag observable (an
   * import that may fault or exit, a handler call).
   */
  rec: FlagRec = newRec();
  flags: FlagState | null = null;
  /** The current instruction's offset from the unit's entry (its EIP is e0 + off). */
  off = 0;
  /** The index of the block being generated in the unit. */
  blk = 0;
  /** Handler-call imports: the handler and its instruction record, per import. */
  readonly calls: { h: Handler; i: Insn; switchesTask: boolean; blk: number; idx: number }[] = [];
  constructor(readonly cpu: Cpu, readonly code32: boolean) {}

  tmp(): number {
    return this.locals++;
  }

  get localCount(): number {
    return this.locals - 2 - 4; // beyond the 6 parameters
  }

  flat(seg: number): boolean {
    if ((this.cpu.flatBits & flatBit(seg)) === 0) return false;
    this.assumed |= flatBit(seg);
    return true;
  }

  /** Push e0 + `delta`, wrapped as EIP wraps. */
  eip(delta: number): void {
    const c = this.c;
    c.get(L_E0);
    if (delta !== 0) c.i32(delta).op(Op.i32Add);
    if (!this.code32) c.i32(0xffff).op(Op.i32And);
  }

  // --- registers
  // Within a block the general registers live in locals (R_LOCAL + r): loaded from the state
  // area at their first use, written back (the dirty ones) before every import, every exit and
  // the block's end; after a handler call they are loaded again (a handler may change any).
  /** Registers whose local holds the current value / differs from the state area (bit r). */
  loaded = 0;
  dirty = 0;

  private ensure(r: number): void {
    if ((this.loaded & (1 << r)) !== 0) return;
    this.c.i32(0).mem(Op.i32Load, 2, S_GPR + r * 8).set(R_LOCAL + r);
    this.loaded |= 1 << r;
  }

  /** Make register r's local current before code that may or may not run (an `if` arm). */
  preload(r: number, size: number): void {
    this.ensure(size === 1 && r >= 4 ? r - 4 : r);
  }

  /** Write the dirty registers back to the state area. */
  spill(): void {
    for (let r = 0; r < 8; r++) {
      if ((this.dirty & (1 << r)) !== 0) this.c.i32(0).get(R_LOCAL + r).mem(Op.i32Store, 2, S_GPR + r * 8);
    }
  }

  loadReg(r: number, size: number): void {
    const c = this.c;
    if (size === 1 && r >= 4) {
      this.ensure(r - 4);
      c.get(R_LOCAL + r - 4).i32(8).op(Op.i32ShrU).i32(0xff).op(Op.i32And);
      return;
    }
    this.ensure(r);
    c.get(R_LOCAL + r);
    if (size !== 4) c.i32(size === 2 ? 0xffff : 0xff).op(Op.i32And);
  }

  /** Store the value `push` pushes into register r. */
  storeReg(r: number, size: number, push: () => void): void {
    const c = this.c;
    const base = size === 1 && r >= 4 ? r - 4 : r;
    if (size === 4) {
      push();
    } else {
      this.ensure(base);
      const keep = size === 2 ? ~0xffff : r >= 4 ? ~0xff00 : ~0xff;
      c.get(R_LOCAL + base).i32(keep).op(Op.i32And);
      push();
      c.i32(size === 2 ? 0xffff : 0xff).op(Op.i32And);
      if (size === 1 && r >= 4) c.i32(8).op(Op.i32Shl);
      c.op(Op.i32Or);
    }
    c.set(R_LOCAL + base);
    this.loaded |= 1 << base;
    this.dirty |= 1 << base;
  }

  regToLocal(r: number, size: number): number {
    const t = this.tmp();
    this.loadReg(r, size);
    this.c.set(t);
    return t;
  }

  constLocal(v: number): number {
    const t = this.tmp();
    this.c.i32(v).set(t);
    return t;
  }

  /** The effective address of a memory operand, into a new local. */
  ea(i: Insn): number {
    const c = this.c;
    c.i32(i.disp | 0);
    if (i.asz === 4) {
      if (i.base >= 0) { this.loadReg(i.base, 4); c.op(Op.i32Add); }
      if (i.index >= 0) {
        this.loadReg(i.index, 4);
        if (i.scale !== 0) c.i32(i.scale).op(Op.i32Shl);
        c.op(Op.i32Add);
      }
    } else {
      if (i.base >= 0) { this.loadReg(i.base, 2); c.op(Op.i32Add); }
      if (i.index >= 0) { this.loadReg(i.index, 2); c.op(Op.i32Add); }
      c.i32(0xffff).op(Op.i32And);
    }
    const t = this.tmp();
    c.set(t);
    return t;
  }

  // --- memory
  /** A memory read of `size` bytes at seg:local `off`, into a new local. */
  /**
   * The local holding the linear address of seg:off when the fast path may take it: `off` for a
   * flat segment, base + off for a 4 GiB read/write segment with another base (Linux's per-CPU
   * FS), -1 otherwise (every access through the interpreter's lin()).
   */
  linear(seg: number, off: number): number {
    if (this.flat(seg)) return off;
    if (seg === SS || (this.cpu.flatBits & bigBit(seg)) === 0) return -1;
    this.assumed |= bigBit(seg);
    const t = this.tmp();
    this.c.i32(0).mem(Op.i32Load, 2, S_SEG_BASE + seg * 4).get(off).op(Op.i32Add).set(t);
    return t;
  }

  read(seg: number, off: number, size: number): number {
    const c = this.c, v = this.tmp();
    const slow = (): void => {
      this.rec.sync = true;
      this.spill();
      c.i32(seg).get(off);
      this.eip(this.off);
      c.get(L_N).i32(this.blk).call(F_RD + (size >> 1));
      c.set(v);
    };
    const lin = this.linear(seg, off);
    if (lin < 0) {
      slow();
      return v;
    }
    const e = this.tmp();
    c.i32(0).get(lin).i32(12).op(Op.i32ShrU).i32(2).op(Op.i32Shl).op(Op.i32Add).mem(Op.i32Load, 2, TLB_OFFSET).tee(e);
    c.get(L_RM).op(Op.i32And).get(L_RW).op(Op.i32Eq);
    if (size > 1) c.get(lin).i32(4095).op(Op.i32And).i32(4096 - size).op(Op.i32LeU).op(Op.i32And);
    c.open(Op.if);
    c.get(e).i32(-4096).op(Op.i32And).get(lin).i32(4095).op(Op.i32And).op(Op.i32Or);
    if (size === 4) c.mem(Op.i32Load, 0, RAM_OFFSET);
    else if (size === 2) c.mem(Op.i32Load16u, 0, RAM_OFFSET);
    else c.mem(Op.i32Load8u, 0, RAM_OFFSET);
    c.set(v);
    c.op(Op.else);
    slow();
    c.end();
    return v;
  }

  /** A memory write of the value `push` pushes (evaluated once) at seg:local `off`. */
  write(seg: number, off: number, size: number, push: () => void): void {
    const c = this.c;
    const x = this.tmp();
    push();
    c.set(x);
    const slow = (): void => {
      this.rec.sync = true;
      this.spill();
      c.i32(seg).get(off).get(x);
      this.eip(this.off);
      c.get(L_N).i32(this.blk).call(F_WR + (size >> 1));
    };
    const lin = this.linear(seg, off);
    if (lin < 0) {
      slow();
      return;
    }
    const e = this.tmp();
    c.i32(0).get(lin).i32(12).op(Op.i32ShrU).i32(2).op(Op.i32Shl).op(Op.i32Add).mem(Op.i32Load, 2, TLB_OFFSET).tee(e);
    c.get(L_WM).op(Op.i32And).get(L_WW).op(Op.i32Eq);
    if (size > 1) c.get(lin).i32(4095).op(Op.i32And).i32(4096 - size).op(Op.i32LeU).op(Op.i32And);
    c.open(Op.if);
    c.get(e).i32(-4096).op(Op.i32And).get(lin).i32(4095).op(Op.i32And).op(Op.i32Or);
    c.get(x);
    if (size === 4) c.mem(Op.i32Store, 0, RAM_OFFSET);
    else if (size === 2) c.mem(Op.i32Store16, 0, RAM_OFFSET);
    else c.mem(Op.i32Store8, 0, RAM_OFFSET);
    c.op(Op.else);
    slow();
    c.end();
  }

  /** Check that seg:off can be written (the slow probe faults as the write would). */
  probe(seg: number, off: number, size: number): void {
    const c = this.c;
    const slow = (): void => {
      this.rec.sync = true;
      this.spill();
      c.i32(seg).get(off).i32(size);
      this.eip(this.off);
      c.get(L_N).i32(this.blk).call(F_PROBE);
    };
    const lin = this.linear(seg, off);
    if (lin < 0) {
      slow();
      return;
    }
    c.i32(0).get(lin).i32(12).op(Op.i32ShrU).i32(2).op(Op.i32Shl).op(Op.i32Add).mem(Op.i32Load, 2, TLB_OFFSET);
    c.get(L_WM).op(Op.i32And).get(L_WW).op(Op.i32Ne);
    if (size > 1) c.get(lin).i32(4095).op(Op.i32And).i32(4096 - size).op(Op.i32GtU).op(Op.i32Or);
    c.open(Op.if);
    slow();
    c.end();
  }

  /**
   * INC/DEC of the operand in local `a` (`size` bytes), the result handed to `store`: CF is kept
   * (from the earlier instruction's operands, else derived from the state), the rest recorded.
   */
  incDec(dec: boolean, a: number, size: number, store: (res: number) => void): void {
    const c = this.c, cfStart = c.len;
    if (this.carry()) {
      this.setCF();
      this.flagCode(cfStart, 1, 0);
    } else {
      this.foldCF();
      this.flagCode(cfStart, 1, 1);
    }
    const one = this.constLocal(1), res = this.tmp();
    c.get(a).i32(1).op(dec ? Op.i32Sub : Op.i32Add).set(res);
    store(res);
    this.lazy(dec ? L_SUB : L_ADD, a, one, res, size, F_ARITH & ~1);
    this.flags = { op: 'incdec', a, b: one, r: res, size };
  }

  /** PUSH of the value `push` pushes on a flat 32-bit stack: written first, ESP after. */
  push32(push: () => void): void {
    const c = this.c, sp = this.tmp();
    this.loadReg(4, 4);
    c.i32(4).op(Op.i32Sub).set(sp);
    this.write(SS, sp, 4, push);
    this.storeReg(4, 4, () => c.get(sp));
  }

  /**
   * POP from the flat 32-bit stack at register `from` (ESP; EBP for LEAVE): ESP becomes that
   * plus 4 once the read succeeded. Returns the local holding the value.
   */
  pop32(from: number): number {
    const sp = this.regToLocal(from, 4);
    const v = this.read(SS, sp, 4);
    this.storeReg(4, 4, () => this.c.get(sp).i32(4).op(Op.i32Add));
    return v;
  }

  // --- flags
  lazy(op: number, a: number, b: number, r: number, size: number, which: number, cin = -1): void {
    const c = this.c, start = c.len;
    const st = (idx: number, push: () => void): void => {
      c.i32(0);
      push();
      c.mem(Op.i32Store, 2, S_LAZY + idx * 4);
    };
    st(LAZY_OP, () => c.i32(op));
    st(LAZY_A, () => c.get(a));
    st(LAZY_B, () => c.get(b));
    st(LAZY_RES, () => c.get(r));
    st(LAZY_MASK, () => c.i32(mask(size)));
    st(LAZY_SIGN, () => c.i32(sign(size)));
    st(LAZY_STALE, () => c.i32(which));
    if (cin >= 0) st(LAZY_CIN, () => c.get(cin));
    this.flagCode(start, which, 0);
  }

  /** Code from `start` to here records flags `writes` after reading `reads` from the state. */
  flagCode(start: number, writes: number, reads: number): void {
    this.rec.ranges.push(start, this.c.len);
    this.rec.reads |= reads & ~this.rec.writes;
    this.rec.writes |= writes;
  }

  /** ALU op 0–7 (ADD OR ADC SBB AND SUB XOR CMP) on two locals; the result local, or null. */
  alu(op: number, a: number, b: number, size: number): number | null {
    const c = this.c, r = this.tmp();
    switch (op) {
      case 2: case 3: {
        // ADC/SBB: the carry in from the earlier instruction's operands, else from EFLAGS.
        const cin = this.tmp();
        if (this.carry()) {
          c.set(cin);
        } else {
          this.foldCF();
          c.i32(0).mem(Op.i32Load, 2, I_FLAGS * 4).i32(1).op(Op.i32And).set(cin);
          this.rec.reads |= 1 & ~this.rec.writes;
        }
        c.get(a).get(b).op(op === 2 ? Op.i32Add : Op.i32Sub).get(cin).op(op === 2 ? Op.i32Add : Op.i32Sub).set(r);
        this.lazy(op === 2 ? L_ADC : L_SBB, a, b, r, size, F_ARITH, cin);
        this.flags = null;
        return r;
      }
      case 0:
        c.get(a).get(b).op(Op.i32Add).set(r);
        this.lazy(L_ADD, a, b, r, size, F_ARITH);
        this.flags = { op: 'add', a, b, r, size };
        return r;
      case 5: case 7:
        c.get(a).get(b).op(Op.i32Sub).set(r);
        this.lazy(L_SUB, a, b, r, size, F_ARITH);
        this.flags = { op: 'sub', a, b, r, size };
        return r;
      case 1: case 4: case 6:
        c.get(a).get(b).op(op === 1 ? Op.i32Or : op === 4 ? Op.i32And : Op.i32Xor).set(r);
        this.lazy(L_LOGIC, a, b, r, size, F_ARITH);
        this.flags = { op: 'logic', a, b, r, size };
        return r;
      default:
        return null;
    }
  }

  /** Push `a < b` (or `<=`) between the low `size` bytes of locals a and b, unsigned. */
  unsignedLess(a: number, b: number, size: number, orEqual: boolean): void {
    const c = this.c, m = mask(size);
    c.get(a);
    if (size !== 4) c.i32(m).op(Op.i32And);
    c.get(b);
    if (size !== 4) c.i32(m).op(Op.i32And);
    c.op(orEqual ? Op.i32LeU : Op.i32LtU);
  }

  /** Push CF from the flag-setting instruction's locals; false when unknown. */
  carry(): boolean {
    const f = this.flags;
    if (f === null) return false;
    switch (f.op) {
      case 'add': this.unsignedLess(f.r, f.a, f.size, false); return true;
      case 'sub': this.unsignedLess(f.a, f.b, f.size, false); return true;
      case 'logic': this.c.i32(0); return true;
      default: return false;
    }
  }

  /** Push condition cc (0–15) as 0/1: from the flag-setting instruction's locals, else the interpreter's. */
  cond(cc: number): void {
    const c = this.c;
    if (this.condLocal(cc & ~1)) {
      if ((cc & 1) !== 0) c.op(Op.i32Eqz);
      return;
    }
    const k = cc & ~1;
    if (k >= 2 && k <= 8) {
      // CF, ZF, CF|ZF, SF from the state: each from the lazy record when stale, else EFLAGS.
      if (k === 2 || k === 6) this.pushCF();
      if (k === 4 || k === 6) this.pushLazyBit(0x40);
      if (k === 6) c.op(Op.i32Or);
      if (k === 8) this.pushLazyBit(0x80);
      if ((cc & 1) !== 0) c.op(Op.i32Eqz);
      this.rec.reads |= k === 2 ? 1 : k === 4 ? 0x40 : k === 6 ? 0x41 : 0x80;
      return;
    }
    c.i32(cc).call(F_COND);
    this.rec.reads |= F_ARITH;
  }

  /** Push ZF (bit 0x40) or SF (0x80) as 0/1: from the lazy record's result when stale, else EFLAGS. */
  private pushLazyBit(bit: number): void {
    const c = this.c, L = (k: number): number => S_LAZY + k * 4;
    c.i32(0).mem(Op.i32Load, 2, L(LAZY_RES));
    c.i32(0).mem(Op.i32Load, 2, L(bit === 0x40 ? LAZY_MASK : LAZY_SIGN)).op(Op.i32And);
    if (bit === 0x40) c.op(Op.i32Eqz);
    else c.i32(0).op(Op.i32Ne);
    c.i32(0).mem(Op.i32Load, 2, I_FLAGS * 4).i32(bit === 0x40 ? 6 : 7).op(Op.i32ShrU).i32(1).op(Op.i32And);
    c.i32(0).mem(Op.i32Load, 2, L(LAZY_STALE)).i32(bit).op(Op.i32And);
    c.op(Op.select);
  }

  condLocal(k: number): boolean {
    const f = this.flags;
    if (f === null) return false;
    const c = this.c, m = mask(f.size), s = sign(f.size);
    const z = (): void => { c.get(f.r); if (m !== -1) c.i32(m).op(Op.i32And); c.op(Op.i32Eqz); };
    const sf = (): void => { c.get(f.r).i32(s).op(Op.i32And).i32(0).op(Op.i32Ne); };
    const sx = (l: number): void => {
      c.get(l);
      const sh = 32 - f.size * 8;
      if (sh !== 0) c.i32(sh).op(Op.i32Shl).i32(sh).op(Op.i32ShrS);
    };
    switch (f.op) {
      case 'sub':
        switch (k) {
          case 0: // OF
            c.get(f.a).get(f.b).op(Op.i32Xor).get(f.a).get(f.r).op(Op.i32Xor).op(Op.i32And).i32(s).op(Op.i32And).i32(0).op(Op.i32Ne);
            return true;
          case 2: this.unsignedLess(f.a, f.b, f.size, false); return true;
          case 4: z(); return true;
          case 6: this.unsignedLess(f.a, f.b, f.size, true); return true;
          case 8: sf(); return true;
          case 12: sx(f.a); sx(f.b); c.op(Op.i32LtS); return true;
          case 14: sx(f.a); sx(f.b); c.op(Op.i32LeS); return true;
          default: return false;
        }
      case 'logic':
        switch (k) {
          case 0: case 2: c.i32(0); return true;
          case 4: case 6: z(); return true;
          case 8: case 12: sf(); return true;
          case 14: z(); sf(); c.op(Op.i32Or); return true;
          default: return false;
        }
      case 'add':
        switch (k) {
          case 2: this.unsignedLess(f.r, f.a, f.size, false); return true;
          case 4: z(); return true;
          case 8: sf(); return true;
          default: return false;
        }
      default:
        switch (k) {
          case 4: z(); return true;
          case 8: sf(); return true;
          default: return false;
        }
    }
  }

  /**
   * Cpu.setArith(bits | szp(r, size), which) inline (size 0: no SF/ZF/PF): stale lazy flags that
   * this does not replace are first derived by the interpreter's code (an import), then EFLAGS'
   * `which` bits are set and the lazy record is no longer stale.
   */
  arith(pushBits: () => void, which: number, r: number, size: number): void {
    const c = this.c, start = c.len;
    const I = I_FLAGS * 4, STALE = S_LAZY + LAZY_STALE * 4;
    const f = this.flags;
    let reads = 0;
    // With the lazy record this block's flag-setting instruction's, the flags this write keeps
    // (those of F_ARITH not in `which`, CF aside for INC/DEC) come from its locals: SF, ZF, PF
    // and AF (CF and OF are always in `which` here).
    const keep = f === null ? -1 : (f.op === 'incdec' ? F_ARITH & ~1 : F_ARITH) & ~which;
    if (f !== null && (keep & 0x801) === 0) {
      if (keep !== 0) {
        c.i32(0);
        c.i32(0).mem(Op.i32Load, 2, I).i32(~keep).op(Op.i32And);
        c.i32(0);
        this.szpOf(f.r, f.size);
        if (f.op !== 'logic') c.get(f.a).get(f.b).op(Op.i32Xor).get(f.r).op(Op.i32Xor).i32(0x10).op(Op.i32And).op(Op.i32Or);
        c.i32(keep).op(Op.i32And).op(Op.i32Or);
        c.mem(Op.i32Store, 2, I);
      }
    } else {
      c.i32(0).mem(Op.i32Load, 2, STALE).i32(~which).op(Op.i32And).open(Op.if).i32(which).call(F_KEEP).end();
      reads = F_ARITH & ~which;
    }
    c.i32(0).i32(0).mem(Op.i32Store, 2, STALE);
    c.i32(0);
    c.i32(0).mem(Op.i32Load, 2, I).i32(~which).op(Op.i32And);
    pushBits();
    if (size !== 0) this.szpOf(r, size);
    c.i32(which).op(Op.i32And).op(Op.i32Or);
    c.mem(Op.i32Store, 2, I);
    this.flagCode(start, F_ARITH, reads);
  }

  /** OR ZF, SF and PF of local r (an operand of `size` bytes) into the value on the stack. */
  szpOf(r: number, size: number): void {
    const c = this.c, m = mask(size);
    c.get(r);
    if (m !== -1) c.i32(m).op(Op.i32And);
    c.op(Op.i32Eqz).i32(6).op(Op.i32Shl).op(Op.i32Or);
    c.get(r).i32(sign(size)).op(Op.i32And).i32(0).op(Op.i32Ne).i32(7).op(Op.i32Shl).op(Op.i32Or);
    // PF: even parity of the low byte
    c.get(r).i32(0xff).op(Op.i32And).op(Op.i32Popcnt).i32(1).op(Op.i32And).op(Op.i32Eqz).i32(2).op(Op.i32Shl).op(Op.i32Or);
  }

  /**
   * When CF is stale, derive it from the lazy record into EFLAGS, as Cpu.getCF does: ADD/ADC
   * carry when the result is below (ADC: not above, with a carry in) the first operand, SUB/SBB
   * when the first operand is below (SBB: not above, with a borrow in) the second; else 0.
   */
  foldCF(): void {
    const c = this.c;
    c.i32(0).mem(Op.i32Load, 2, S_LAZY + LAZY_STALE * 4).i32(1).op(Op.i32And).open(Op.if);
    const cf = this.tmp();
    this.lazyCF();
    c.set(cf);
    c.i32(0);
    c.i32(0).mem(Op.i32Load, 2, I_FLAGS * 4).i32(-2).op(Op.i32And).get(cf).op(Op.i32Or);
    c.mem(Op.i32Store, 2, I_FLAGS * 4);
    c.end();
  }

  /** Push CF as 0/1: from the lazy record when it is stale, else EFLAGS. */
  pushCF(): void {
    const c = this.c;
    const cf = this.tmp();
    c.i32(0).mem(Op.i32Load, 2, I_FLAGS * 4).i32(1).op(Op.i32And).set(cf);
    c.i32(0).mem(Op.i32Load, 2, S_LAZY + LAZY_STALE * 4).i32(1).op(Op.i32And).open(Op.if);
    this.lazyCF();
    c.set(cf);
    c.end();
    c.get(cf);
  }

  /** Push the carry the lazy record gives (its operation's, as Cpu.getCF computes it). */
  private lazyCF(): void {
    const c = this.c, L = (k: number): number => S_LAZY + k * 4;
    const op = this.tmp(), m = this.tmp(), x = this.tmp(), y = this.tmp(), add = this.tmp();
    c.i32(0).mem(Op.i32Load, 2, L(LAZY_OP)).set(op);
    c.i32(0).mem(Op.i32Load, 2, L(LAZY_MASK)).set(m);
    c.get(op).i32(L_ADD).op(Op.i32Eq).get(op).i32(L_ADC).op(Op.i32Eq).op(Op.i32Or).set(add);
    // x, y: (res, a) for ADD/ADC, (a, b) otherwise
    c.i32(0).mem(Op.i32Load, 2, L(LAZY_RES)).i32(0).mem(Op.i32Load, 2, L(LAZY_A)).get(add).op(Op.select).get(m).op(Op.i32And).set(x);
    c.i32(0).mem(Op.i32Load, 2, L(LAZY_A)).i32(0).mem(Op.i32Load, 2, L(LAZY_B)).get(add).op(Op.select).get(m).op(Op.i32And).set(y);
    // with a carry in (ADC/SBB and LAZY_CIN): x <= y, else x < y
    c.get(x).get(y).op(Op.i32LeU);
    c.get(x).get(y).op(Op.i32LtU);
    c.get(op).i32(L_ADC).op(Op.i32Eq).get(op).i32(L_SBB).op(Op.i32Eq).op(Op.i32Or);
    c.i32(0).mem(Op.i32Load, 2, L(LAZY_CIN)).i32(0).op(Op.i32Ne).op(Op.i32And);
    c.op(Op.select);
    // only for the four arithmetic kinds
    c.get(op).i32(L_ADD).op(Op.i32GeU).get(op).i32(L_SBB).op(Op.i32LeU).op(Op.i32And).op(Op.i32And);
  }

  /** EFLAGS.CF = the 0/1 value on the stack. */
  setCF(): void {
    const c = this.c, I = I_FLAGS * 4;
    const t = this.tmp();
    c.set(t);
    c.i32(0).i32(0).mem(Op.i32Load, 2, I).i32(-2).op(Op.i32And).get(t).op(Op.i32Or).mem(Op.i32Store, 2, I);
  }

  // --- leaving
  /** Leave the run with EIP `push` pushes and `extra` more instructions counted. */
  exit(push: () => void, extra: number): void {
    const c = this.c;
    this.spill();
    c.i32(0);
    push();
    c.mem(Op.i32Store, 2, S_JIT + J_EIP);
    c.i32(0).get(L_N);
    if (extra !== 0) c.i32(extra).op(Op.i32Add);
    c.mem(Op.i32Store, 2, S_JIT + J_N);
    c.i32(0).i32(this.blk).mem(Op.i32Store, 2, S_JIT + J_BLK);
    c.i32(1).op(Op.return);
  }

  /** If brk (the cell) is set: leave with EIP at the next instruction. */
  brkExit(k: number, nextOff: number): void {
    const c = this.c;
    c.i32(0).mem(Op.i32Load, 2, S_JIT + J_BRK).open(Op.if);
    this.exit(() => this.eip(nextOff), k + 1);
    c.end();
  }

  /**
   * The block's end, with the next EIP in L_PC and `len` instructions in the block: count them;
   * go on to a block of the unit that the next EIP starts (one of `next`: unit indices with their
   * offsets from the entry) when brk is clear (if `checkBrk`) and the budget has room for it
   * whole; else leave.
   */
  blockEnd(len: number, checkBrk: boolean, next: { k: number; delta: number; len: number }[], loop: number): void {
    const c = this.c;
    this.spill();
    this.dirty = 0;
    c.get(L_N).i32(len).op(Op.i32Add).set(L_N);
    if (next.length > 0) {
      if (checkBrk) c.i32(0).mem(Op.i32Load, 2, S_JIT + J_BRK).op(Op.i32Eqz).open(Op.if);
      for (const t of next) {
        c.get(L_PC);
        this.eip(t.delta);
        c.op(Op.i32Eq);
        c.get(L_N).i32(t.len).op(Op.i32Add).get(L_ROOM).op(Op.i32LeS).op(Op.i32And);
        c.open(Op.if);
        c.i32(t.k).set(L_B);
        c.br(c.depth - loop - 1);
        c.end();
      }
      if (checkBrk) c.end();
    }
    this.exit(() => c.get(L_PC), 0);
  }
}

/**
 * Flag liveness over a block, backwards from its end (where every flag is live): the flag code
 * of an instruction whose every written flag is written again before anything can observe it (a
 * read, an import that may fault or exit, a handler call, the block's end) is cut out. Each range
 * is a stack-neutral run of whole statements, so cutting it leaves valid code; the flag-setting
 * instruction's operands stay in locals for the conditions and carries computed from them.
 */
function dropDeadFlags(c: Code, recs: FlagRec[]): void {
  let live = F_ARITH;
  const cut: number[] = [];
  for (let k = recs.length - 1; k >= 0; k--) {
    const r = recs[k];
    if (r.writes !== 0 && !r.sync && (r.writes & live) === 0) cut.push(...r.ranges);
    live = r.sync ? F_ARITH : (live & ~r.writes) | r.reads;
  }
  // Ranges from the end backwards (recs were walked backwards; within one rec, ascending).
  const pairs: [number, number][] = [];
  for (let q = 0; q < cut.length; q += 2) pairs.push([cut[q], cut[q + 1]]);
  pairs.sort((x, y) => y[0] - x[0]);
  for (const [a, b] of pairs) c.cut(a, b);
}

/** Handlers that may switch tasks (see jit.ts): far JMP and CALL, INT n, INT3, INTO, ICEBP, IRET. */
function switchesTask(i: Insn): boolean {
  const op = i.op;
  return op === 0xea || op === 0x9a || op === 0xcc || op === 0xcd || op === 0xce || op === 0xcf || op === 0xf1 ||
    (op === 0xff && (i.reg === 3 || i.reg === 5));
}

/** Inlined instructions after which brk must be looked at (a memory access's slow path may set it). */
function mayBreak(i: Insn): boolean {
  if (i.op === 0x8d) return false;
  return i.modrm >= 0 ? i.mod !== 3
    : (i.op >= 0x50 && i.op <= 0x5f) || i.op === 0x68 || i.op === 0x6a || i.op === 0xc9 || (i.op >= 0xa0 && i.op <= 0xa5) ||
      (i.op >= 0xaa && i.op <= 0xad);
}

/**
 * Inline code for instruction i; false when the compiler does not inline it. `nextOff`: the
 * offset of the next instruction; a control transfer (last) sets L_PC and returns 'end'.
 */
function inline(g: Gen, i: Insn, nextOff: number, last: boolean): boolean | 'end' {
  const c = g.c;
  const op = i.op, osz = i.osz;
  const mem = i.modrm >= 0 && i.mod !== 3;
  if (op < 0x40 && (op & 7) < 6) {
    const aop = (op >> 3) & 7;
    const form = op & 7;
    const size = (form & 1) === 0 ? 1 : osz;
    if (form === 4 || form === 5) {
      const a = g.regToLocal(0, size);
      const r = g.alu(aop, a, g.constLocal(i.imm | 0), size)!;
      if (aop !== 7) g.storeReg(0, size, () => c.get(r));
      return true;
    }
    const toRm = form < 2;
    if (!mem) {
      const dst = toRm ? i.rm : i.reg, src = toRm ? i.reg : i.rm;
      const a = g.regToLocal(dst, size), b = g.regToLocal(src, size);
      const r = g.alu(aop, a, b, size)!;
      if (aop !== 7) g.storeReg(dst, size, () => c.get(r));
      return true;
    }
    const off = g.ea(i);
    const m = g.read(i.seg, off, size);
    const rv = g.regToLocal(i.reg, size);
    if (toRm && aop !== 7) g.probe(i.seg, off, size);
    const r = (toRm ? g.alu(aop, m, rv, size) : g.alu(aop, rv, m, size))!;
    if (aop !== 7) {
      if (toRm) g.write(i.seg, off, size, () => c.get(r));
      else g.storeReg(i.reg, size, () => c.get(r));
    }
    return true;
  }
  switch (op) {
    case 0x80: case 0x81: case 0x83: {
      const size = op === 0x80 ? 1 : osz;
      const aop = i.reg;
        const imm = op === 0x83 ? ((i.imm << 24) >> 24) : i.imm | 0;
      if (!mem) {
        const a = g.regToLocal(i.rm, size);
        const r = g.alu(aop, a, g.constLocal(imm), size)!;
        if (aop !== 7) g.storeReg(i.rm, size, () => c.get(r));
        return true;
      }
      const off = g.ea(i);
      const m = g.read(i.seg, off, size);
      if (aop !== 7) g.probe(i.seg, off, size);
      const r = g.alu(aop, m, g.constLocal(imm), size)!;
      if (aop !== 7) g.write(i.seg, off, size, () => c.get(r));
      return true;
    }
    case 0x84: case 0x85: case 0xa8: case 0xa9: {
      const size = (op & 1) === 0 ? 1 : osz;
      if (op >= 0xa8) {
        g.alu(4, g.regToLocal(0, size), g.constLocal(i.imm | 0), size);
        return true;
      }
      const a = mem ? g.read(i.seg, g.ea(i), size) : g.regToLocal(i.rm, size);
      g.alu(4, a, g.regToLocal(i.reg, size), size);
      return true;
    }
    case 0x88: case 0x89: case 0x8a: case 0x8b: { // MOV r/m, r and MOV r, r/m
      const size = (op & 1) === 0 ? 1 : osz, toRm = op <= 0x89;
      if (!mem) {
        const [dst, src] = toRm ? [i.rm, i.reg] : [i.reg, i.rm];
        g.storeReg(dst, size, () => g.loadReg(src, size));
      } else if (toRm) {
        g.write(i.seg, g.ea(i), size, () => g.loadReg(i.reg, size));
      } else {
        const v = g.read(i.seg, g.ea(i), size);
        g.storeReg(i.reg, size, () => c.get(v));
      }
      return true;
    }
    case 0xc6: case 0xc7: {
      if (i.reg !== 0) return false;
      const size = op === 0xc6 ? 1 : osz;
      if (!mem) {
        g.storeReg(i.rm, size, () => c.i32(i.imm | 0));
        return true;
      }
      const off = g.ea(i);
      g.write(i.seg, off, size, () => c.i32(i.imm | 0));
      return true;
    }
    case 0x8d: {
      if (!mem) return false;
      const a = g.ea(i);
      g.storeReg(i.reg, osz, () => c.get(a));
      return true;
    }
    case 0x1b6: case 0x1b7: case 0x1be: case 0x1bf: {
      const ssize = (op & 1) === 0 ? 1 : 2;
      const v = mem ? g.read(i.seg, g.ea(i), ssize) : g.regToLocal(i.rm, ssize);
      const sh = 32 - ssize * 8;
      g.storeReg(i.reg, osz, () => {
        c.get(v);
        if (op >= 0x1be) c.i32(sh).op(Op.i32Shl).i32(sh).op(Op.i32ShrS);
      });
      return true;
    }
    default:
      break;
  }
  if ((op === 0xc1 || op === 0xd1) && !mem && (osz === 4 ? i.reg !== 2 && i.reg !== 3 : i.reg >= 4)) {
    const n = (op === 0xd1 ? 1 : i.imm) & 31;
    if (osz === 2 && n >= 16) return false;
    if (n === 0) return true;
    shift(g, i.reg, i.rm, osz * 8, () => c.i32(n));
    g.flags = null;
    return true;
  }
  if (op === 0xd3 && !mem && osz === 4 && i.reg !== 2 && i.reg !== 3) {
    const n = g.tmp();
    g.loadReg(1, 1);
    g.preload(i.rm, 4);
    c.i32(31).op(Op.i32And).tee(n).open(Op.if);
    shift(g, i.reg, i.rm, 32, () => c.get(n));
    c.end();
    // (with a zero count nothing is written: the flags before it live on)
    g.rec.writes = 0;
    g.flags = null;
    return true;
  }
  if ((op === 0x1af || op === 0x69 || op === 0x6b) && osz === 4) {
    const a = mem ? g.read(i.seg, g.ea(i), 4) : g.regToLocal(i.rm, 4);
    const b = op === 0x1af ? g.regToLocal(i.reg, 4) : g.constLocal(op === 0x6b ? (i.imm << 24) >> 24 : i.imm | 0);
    const lo = g.tmp();
    c.get(a).get(b).op(Op.i32Mul).set(lo);
    g.arith(() => {
      c.get(a).op(Op.i64ExtendI32s).get(b).op(Op.i64ExtendI32s).op(Op.i64Mul);
      c.get(lo).op(Op.i64ExtendI32s).op(Op.i64Ne);
      c.i32(0x801).op(Op.i32Mul);
    }, 0x8d5, lo, 4);
    g.storeReg(i.reg, 4, () => c.get(lo));
    g.flags = null;
    return true;
  }
  // TEST r/m, imm; NOT; NEG (SUB from 0: the lazy record gives CF = operand ≠ 0).
  if ((op === 0xf6 || op === 0xf7) && (i.reg === 0 || i.reg === 2 || i.reg === 3)) {
    const size = op === 0xf6 ? 1 : osz;
    const off = mem ? g.ea(i) : -1;
    const a = mem ? g.read(i.seg, off, size) : g.regToLocal(i.rm, size);
    if (i.reg === 0) {
      g.alu(4, a, g.constLocal(i.imm | 0), size);
      return true;
    }
    if (mem) g.probe(i.seg, off, size);
    let r: number;
    if (i.reg === 2) {
      r = g.tmp();
      c.get(a).i32(-1).op(Op.i32Xor).set(r);
    } else {
      r = g.alu(5, g.constLocal(0), a, size)!;
    }
    if (mem) g.write(i.seg, off, size, () => c.get(r));
    else g.storeReg(i.rm, size, () => c.get(r));
    return true;
  }
  // INC/DEC r/m (CF kept, as INC/DEC r below).
  if ((op === 0xfe || op === 0xff) && i.reg <= 1) {
    const size = op === 0xfe ? 1 : osz;
    const off = mem ? g.ea(i) : -1;
    const a = mem ? g.read(i.seg, off, size) : g.regToLocal(i.rm, size);
    if (mem) g.probe(i.seg, off, size);
    g.incDec(i.reg === 1, a, size, (res) => {
      if (mem) g.write(i.seg, off, size, () => c.get(res));
      else g.storeReg(i.rm, size, () => c.get(res));
    });
    return true;
  }
  // MOVS, LODS, STOS without REP, 32-bit addresses: one element, ESI/EDI stepped by EFLAGS.DF.
  if ((op === 0xa4 || op === 0xa5 || op === 0xaa || op === 0xab || op === 0xac || op === 0xad) && (i.prefix & 3) === 0 && i.asz === 4) {
    const size = (op & 1) === 0 ? 1 : osz;
    const step = g.tmp();
    c.i32(-size).i32(size).i32(0).mem(Op.i32Load, 2, I_FLAGS * 4).i32(0x400).op(Op.i32And).op(Op.select).set(step);
    if (op <= 0xa5) {
      const si = g.regToLocal(6, 4), di = g.regToLocal(7, 4);
      const v = g.read(i.seg, si, size);
      g.write(ES, di, size, () => c.get(v));
      g.storeReg(6, 4, () => c.get(si).get(step).op(Op.i32Add));
      g.storeReg(7, 4, () => c.get(di).get(step).op(Op.i32Add));
    } else if (op >= 0xac) {
      const si = g.regToLocal(6, 4);
      const v = g.read(i.seg, si, size);
      g.storeReg(0, size, () => c.get(v));
      g.storeReg(6, 4, () => c.get(si).get(step).op(Op.i32Add));
    } else {
      const di = g.regToLocal(7, 4);
      g.write(ES, di, size, () => g.loadReg(0, size));
      g.storeReg(7, 4, () => c.get(di).get(step).op(Op.i32Add));
    }
    return true;
  }
  // MOV AL/AX/EAX, moffs and back.
  if (op >= 0xa0 && op <= 0xa3) {
    const size = (op & 1) === 0 ? 1 : osz;
    const off = g.constLocal(i.asz === 4 ? i.disp | 0 : i.disp & 0xffff);
    if (op <= 0xa1) {
      const v = g.read(i.seg, off, size);
      g.storeReg(0, size, () => c.get(v));
    } else {
      g.write(i.seg, off, size, () => g.loadReg(0, size));
    }
    return true;
  }
  // CMOVcc r, r/m (the source is read whatever the condition).
  if (op >= 0x140 && op <= 0x14f && (g.cpu.features & CPUID_CMOV) !== 0) {
    const v = mem ? g.read(i.seg, g.ea(i), osz) : g.regToLocal(i.rm, osz);
    g.preload(i.reg, osz);
    g.cond(op & 0xf);
    c.open(Op.if);
    g.storeReg(i.reg, osz, () => c.get(v));
    c.end();
    return true;
  }
  if (op === 0x90) return true;
  if (op >= 0xb0 && op <= 0xb7) {
    g.storeReg(op & 7, 1, () => c.i32(i.imm & 0xff));
    return true;
  }
  if (op >= 0xb8 && op <= 0xbf) {
    g.storeReg(op & 7, osz, () => c.i32(i.imm | 0));
    return true;
  }
  if (op >= 0x40 && op <= 0x4f) {
    const r = op & 7;
    g.incDec(op >= 0x48, g.regToLocal(r, osz), osz, (res) => g.storeReg(r, osz, () => c.get(res)));
    return true;
  }
  const flatStack = osz === 4 && g.flat(SS);
  if (op >= 0x50 && op <= 0x57 && flatStack && (op & 7) !== 4) {
    g.push32(() => g.loadReg(op & 7, 4));
    return true;
  }
  if (op >= 0x58 && op <= 0x5f && flatStack && (op & 7) !== 4) {
    const v = g.pop32(4);
    g.storeReg(op & 7, 4, () => c.get(v));
    return true;
  }
  if ((op === 0x68 || op === 0x6a) && flatStack) {
    g.push32(() => c.i32(op === 0x6a ? (i.imm << 24) >> 24 : i.imm | 0));
    return true;
  }
  if (op === 0xc9 && flatStack) { // LEAVE
    const v = g.pop32(5);
    g.storeReg(5, 4, () => c.get(v));
    return true;
  }
  if (op === 0xff && i.reg === 6 && mem && flatStack) { // PUSH r/m32
    const v = g.read(i.seg, g.ea(i), 4);
    g.push32(() => c.get(v));
    return true;
  }
  if (op === 0xc3 && last && flatStack && g.cpu.segMax[CS] === 0xffffffff) { // RET (CS 4 GiB: no limit check)
    g.flatCs = true;
    c.get(g.pop32(4)).set(L_PC);
    return 'end';
  }
  if (last) {
    const target = (disp: number): void => {
      g.eip(nextOff);
      c.i32(disp).op(Op.i32Add);
      if (osz !== 4) c.i32(0xffff).op(Op.i32And);
    };
    if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f)) {
      const disp = op < 0x100 ? (i.imm << 24) >> 24 : i.imm | 0;
      g.cond(op & 0xf);
      c.open(Op.if);
      target(disp);
      c.set(L_PC);
      c.op(Op.else);
      g.eip(nextOff);
      c.set(L_PC);
      c.end();
      return 'end';
    }
    if (op === 0xeb || op === 0xe9) {
      target(op === 0xeb ? (i.imm << 24) >> 24 : i.imm | 0);
      c.set(L_PC);
      return 'end';
    }
    if (op === 0xe8 && flatStack) {
      g.push32(() => g.eip(nextOff));
      target(i.imm | 0);
      c.set(L_PC);
      return 'end';
    }
  }
  return false;
}

/** Shift/rotate `kind` of register rm (bits 16 or 32) by a count 1..bits-1, flags as the interpreter's. */
function shift(g: Gen, kind: number, rm: number, bits: number, count: () => void): void {
  const c = g.c, size = bits / 8;
  const a = g.regToLocal(rm, size), r = g.tmp(), top = bits - 1;
  const cnt = g.tmp();
  count();
  c.set(cnt);
  switch (kind) {
    case 0: // ROL (32-bit only here)
      c.get(a).get(cnt).op(Op.i32Rotl).set(r);
      g.storeReg(rm, size, () => c.get(r));
      g.arith(() => {
        c.get(r).i32(1).op(Op.i32And);
        c.get(r).i32(31).op(Op.i32ShrU).get(r).op(Op.i32Xor).i32(1).op(Op.i32And).i32(11).op(Op.i32Shl).op(Op.i32Or);
      }, 0x801, r, 0);
      return;
    case 1: // ROR
      c.get(a).get(cnt).op(Op.i32Rotr).set(r);
      g.storeReg(rm, size, () => c.get(r));
      g.arith(() => {
        c.get(r).i32(31).op(Op.i32ShrU);
        c.get(r).i32(31).op(Op.i32ShrU).get(r).i32(30).op(Op.i32ShrU).op(Op.i32Xor).i32(1).op(Op.i32And).i32(11).op(Op.i32Shl).op(Op.i32Or);
      }, 0x801, r, 0);
      return;
    case 4: case 6: { // SHL: CF = last bit out, OF = MSB ^ CF
      c.get(a).get(cnt).op(Op.i32Shl);
      if (bits === 16) c.i32(0xffff).op(Op.i32And);
      c.set(r);
      g.storeReg(rm, size, () => c.get(r));
      const out = g.tmp();
      c.get(a).i32(bits).get(cnt).op(Op.i32Sub).op(Op.i32ShrU).i32(1).op(Op.i32And).set(out);
      g.arith(() => {
        c.get(out);
        c.get(r).i32(top).op(Op.i32ShrU).get(out).op(Op.i32Xor).i32(1).op(Op.i32And).i32(11).op(Op.i32Shl).op(Op.i32Or);
      }, 0x8d5, r, size);
      return;
    }
    case 5: // SHR: OF = the operand's MSB for a count of 1
      c.get(a).get(cnt).op(Op.i32ShrU).set(r);
      g.storeReg(rm, size, () => c.get(r));
      g.arith(() => {
        c.get(a).get(cnt).i32(1).op(Op.i32Sub).op(Op.i32ShrU).i32(1).op(Op.i32And);
        c.get(cnt).i32(1).op(Op.i32Eq).get(a).i32(top).op(Op.i32ShrU).i32(1).op(Op.i32And).op(Op.i32And).i32(11).op(Op.i32Shl).op(Op.i32Or);
      }, 0x8d5, r, size);
      return;
    default: { // SAR
      const sx = g.tmp();
      c.get(a);
      if (bits === 16) c.i32(16).op(Op.i32Shl).i32(16).op(Op.i32ShrS);
      c.set(sx);
      c.get(sx).get(cnt).op(Op.i32ShrS);
      if (bits === 16) c.i32(0xffff).op(Op.i32And);
      c.set(r);
      g.storeReg(rm, size, () => c.get(r));
      g.arith(() => {
        c.get(sx).get(cnt).i32(1).op(Op.i32Sub).op(Op.i32ShrS).i32(1).op(Op.i32And);
      }, 0x8d5, r, size);
    }
  }
}

/** What the handler trampolines of the running unit need (Cpu.jitUnit, set at each entry). */
export interface Unit {
  blocks: Block[];
  deltas: number[];
  /** Per handler call q of the unit: its instruction, its block, its index in the block. */
  callInsn: Insn[];
  callBlk: number[];
  callIdx: number[];
}

/**
 * The function a unit imports to run handler h for its q-th handler call: made once per Cpu and
 * handler with new Function, so that each calls its handler from a call site of its own (one
 * closure literal for all would share one megamorphic site: 13 % of Debian's boot). It sets
 * EIP, nextEip, the count and the block before the call, and leaves brk and nextEip in the
 * scratch cells.
 */
function trampoline(cpu: Cpu, h: Handler, ts: boolean): (eip: number, next: number, n: number, q: number) => void {
  let cache = trampolines.get(cpu);
  if (cache === undefined) trampolines.set(cpu, cache = [new Map(), new Map()]);
  const map = cache[ts ? 1 : 0];
  let f = map.get(h);
  if (f !== undefined) return f;
  noInsns ??= new Block(-1);
  const body = ts
    // A task switch loads the new EIP before it can fault: count what ran before it in the block,
    // and run it under a block without instructions (see jit.ts).
    ? `const u = c.jitUnit, b = u.callBlk[q];
       c.eip = eip; c.nextEip = next; c.instructionCount = c.jitEntryCount + n + u.callIdx[q];
       c.curEntry = (c.jitEntryEip + u.deltas[b]) | 0; c.curBlock = NB;
       H(c, u.callInsn[q]);
       c.curBlock = u.blocks[b]; J[2] = c.brk; J[3] = c.nextEip;`
    : `const u = c.jitUnit, b = u.callBlk[q];
       c.eip = eip; c.nextEip = next; c.instructionCount = c.jitEntryCount + n;
       c.curBlock = u.blocks[b]; c.curEntry = (c.jitEntryEip + u.deltas[b]) | 0;
       H(c, u.callInsn[q]);
       J[2] = c.brk; J[3] = c.nextEip;`;
  f = new Function('c', 'H', 'J', 'NB', `return (function (eip, next, n, q) {\n${body}\n});`)(
    cpu, h, new Int32Array(cpu.mem.buffer, S_JIT, 8), noInsns) as (eip: number, next: number, n: number, q: number) => void;
  map.set(h, f);
  return f;
}

const trampolines = new WeakMap<Cpu, [Map<Handler, (eip: number, next: number, n: number, q: number) => void>, Map<Handler, (eip: number, next: number, n: number, q: number) => void>]>();

/** Most blocks and instructions in one unit. */
const UNIT_BLOCKS = 32;
const UNIT_INSNS = 512;

/**
 * The unit of `entry`: with 32-bit code and a 4 GiB CS, the blocks of its page that direct
 * branches reach from it and that have already run `minRuns` times (or were compiled); else the
 * entry alone. Deltas are EIP offsets from the entry.
 */
function findUnit(cpu: Cpu, entry: Block, code32: boolean, minRuns: number): { blocks: Block[]; deltas: number[] } {
  const blocks = [entry], deltas = [0];
  if (!code32 || cpu.segMax[CS] !== 0xffffffff) return { blocks, deltas };
  const phys = Math.floor(entry.key / 2);
  const pageOff = phys % 4096, pageBase = phys - pageOff;
  let insns = entry.insns.length;
  for (let q = 0; q < blocks.length; q++) {
    const b = blocks[q];
    let len = 0;
    for (const i of b.insns) len += i.len;
    const lastInsn = b.insns[b.insns.length - 1];
    const next = successors(lastInsn, deltas[q] + len).targets;
    // A CALL's return site: where the callee's RET comes back (see returnSites).
    if (lastInsn.op === 0xe8 && lastInsn.osz === 4) next.push(deltas[q] + len);
    for (const d of next) {
      if (pageOff + d < 0 || pageOff + d >= 4096 || deltas.includes(d) || blocks.length >= UNIT_BLOCKS) continue;
      const t = cpu.blocks.get((pageBase + pageOff + d) * 2 + 1);
      if (t === undefined || !t.valid || !t.cacheable || (t.execCount < minRuns && t.compiled === undefined)) continue;
      if (insns + t.insns.length > UNIT_INSNS) continue;
      insns += t.insns.length;
      blocks.push(t);
      deltas.push(d);
    }
  }
  return { blocks, deltas };
}

/** A block without instructions (see jit.ts: what a task-switching handler runs under). */
let noInsns: Block | null = null;

/** Whether a compiled unit may span several blocks (VMRUN_JIT_REGION=0: the entry block alone). */
const MULTI = process.env.VMRUN_JIT_REGION !== '0';

/** Compile a hot block (and the hot blocks of its page it leads to) to WebAssembly; null when nothing is inlined. */
export function compileBlockWasm(cpu: Cpu, entry: Block, code32: boolean, minRuns: number): Compiled | null {
  const { blocks, deltas } = MULTI ? findUnit(cpu, entry, code32, minRuns) : { blocks: [entry], deltas: [0] };
  const g = new Gen(cpu, code32);
  const c = g.c;
  let inlinedAny = false;
  const J = new Int32Array(cpu.mem.buffer, S_JIT, 8);
  const nBlocks = blocks.length;
  c.i32(0).i32(0).mem(Op.i32Store, 2, S_JIT + J_BRK);
  const loop = c.depth;
  c.open(Op.loop);
  for (let k = nBlocks - 1; k >= 0; k--) c.open(Op.block);
  c.get(L_B).brTable(blocks.map((_, k) => k), nBlocks - 1);
  // The unit's blocks that follow one of its CALL blocks: where its RETs are likely to go.
  const returnSites: number[] = [];
  blocks.forEach((b, k) => {
    const last = b.insns[b.insns.length - 1];
    let len = 0;
    for (const i of b.insns) len += i.len;
    if (nBlocks > 1 && last.op === 0xe8 && last.osz === 4 && deltas.includes(deltas[k] + len)) returnSites.push(deltas[k] + len);
  });
  for (let bk = 0; bk < nBlocks; bk++) {
    c.end(); // the block of the br_table that lands here
    const insns = blocks[bk].insns, len = insns.length;
    g.blk = bk;
    g.flags = null;
    g.loaded = 0;
    g.dirty = 0;
    let off = deltas[bk];
    let ended = false;
    /** The unit's blocks the end of this block may continue at. */
    const nextOf = (i: Insn, nextDelta: number): { k: number; delta: number; len: number }[] => {
      const out: { k: number; delta: number; len: number }[] = [];
      const { targets, dynamic } = successors(i, nextDelta);
      // A RET or an indirect jump may go to any return site of the unit.
      for (const d of dynamic ? returnSites : targets) {
        const j = deltas.indexOf(d);
        if (j >= 0) out.push({ k: j, delta: d, len: blocks[j].insns.length });
      }
      // (a 16-bit or non-unit block still goes round on itself)
      if (out.length === 0 && nBlocks === 1) out.push({ k: 0, delta: 0, len });
      return out;
    };
    const recs: FlagRec[] = [];
    for (let k = 0; k < len; k++) {
      const i = insns[k];
      g.off = off;
      off += i.len;
      const last = k === len - 1;
      let done: boolean | 'end' = false;
      g.rec = newRec();
      recs.push(g.rec);
      if (i.handler !== ud) {
        const mark = c.len, depth = c.depth, saved: FlagState | null = g.flags, loaded = g.loaded, dirty = g.dirty;
        done = inline(g, i, off, last);
        if (done === false) {
          c.truncate(mark);
          c.depth = depth;
          g.flags = saved;
          g.loaded = loaded;
          g.dirty = dirty;
          g.rec = recs[k] = newRec();
        }
      }
      if (done !== false) {
        inlinedAny = true;
        if (done === 'end') {
          g.blockEnd(len, i.op === 0xe8 || i.op === 0xc3, nextOf(i, off), loop);
          ended = true;
        } else if (last) {
          g.eip(off);
          c.set(L_PC);
          g.blockEnd(len, mayBreak(i), nextOf(i, off), loop);
          ended = true;
        } else if (mayBreak(i)) {
          g.brkExit(k, off);
        }
        continue;
      }
      // A handler call through its own import.
      g.flags = null;
      g.rec.sync = true;
      g.rec.reads = F_ARITH;
      const h = g.calls.length;
      g.calls.push({ h: i.handler, i, switchesTask: last && switchesTask(i), blk: bk, idx: k });
      g.spill();
      g.eip(g.off);
      g.eip(off);
      c.get(L_N).i32(h).call(SHARED.length + h);
      g.loaded = 0;
      g.dirty = 0;
      if (last) {
        c.i32(0).mem(Op.i32Load, 2, S_JIT + J_NEXT).set(L_PC);
        g.blockEnd(len, true, nextOf(i, off), loop);
        ended = true;
      } else {
        c.i32(0).mem(Op.i32Load, 2, S_JIT + J_BRK).open(Op.if);
        g.exit(() => c.i32(0).mem(Op.i32Load, 2, S_JIT + J_NEXT), k + 1);
        c.end();
      }
    }
    if (!ended) throw new Error('wasm-jit: a block without an end');
    dropDeadFlags(c, recs);
  }
  c.end(); // loop
  c.op(Op.unreachable);
  if (!inlinedAny) return null;
  const imports: { name: string; type: FuncType }[] = SHARED.map(([name, params, results]) => ({ name, type: { params, results } }));
  g.calls.forEach((_, k) => imports.push({ name: `h${k}`, type: { params: 4, results: 0 } }));
  const bytes = buildModule({ imports, func: { type: { params: 6, results: 1 }, locals: g.localCount, code: c } });
  const cpu0 = cpu;
  // Where a call from the unit happens: EIP, the count of the blocks completed, the block.
  const at = (eip: number, n: number, blk: number): void => {
    cpu0.eip = eip;
    cpu0.instructionCount = cpu0.jitEntryCount + n;
    cpu0.curBlock = blocks[blk];
    cpu0.curEntry = (cpu0.jitEntryEip + deltas[blk]) | 0;
  };
  const env: Record<string, unknown> = {
    mem: cpu.mem.memory,
    rd8: (seg: number, off: number, eip: number, n: number, b: number) => { at(eip, n, b); const v = cpu0.read8(seg, off); J[2] = cpu0.brk; return v; },
    rd16: (seg: number, off: number, eip: number, n: number, b: number) => { at(eip, n, b); const v = cpu0.read16(seg, off); J[2] = cpu0.brk; return v; },
    rd32: (seg: number, off: number, eip: number, n: number, b: number) => { at(eip, n, b); const v = cpu0.read32(seg, off) | 0; J[2] = cpu0.brk; return v; },
    wr8: (seg: number, off: number, v: number, eip: number, n: number, b: number) => { at(eip, n, b); cpu0.write8(seg, off, v); J[2] = cpu0.brk; },
    wr16: (seg: number, off: number, v: number, eip: number, n: number, b: number) => { at(eip, n, b); cpu0.write16(seg, off, v); J[2] = cpu0.brk; },
    wr32: (seg: number, off: number, v: number, eip: number, n: number, b: number) => { at(eip, n, b); cpu0.write32(seg, off, v); J[2] = cpu0.brk; },
    probe: (seg: number, off: number, size: number, eip: number, n: number, b: number) => { at(eip, n, b); cpu0.probeWrite(seg, off, size); },
    cond: (cc: number) => (cpu0.cond(cc) ? 1 : 0),
    // The stale lazy flags that a write of `which` keeps, derived into EFLAGS (Cpu.setArith's first half).
    keep: (which: number) => { const keep = cpu0.lz[LAZY_STALE] & ~which; cpu0.st[I_FLAGS] = (cpu0.st[I_FLAGS] & ~keep) | (cpu0.getFlags() & keep); },
  };
  g.calls.forEach(({ h, switchesTask: ts }, q) => {
    env[`h${q}`] = trampoline(cpu, h, ts);
  });
  const unit: Unit = {
    blocks, deltas,
    callInsn: g.calls.map((x) => x.i),
    callBlk: g.calls.map((x) => x.blk),
    callIdx: g.calls.map((x) => x.idx),
  };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { m: env as WebAssembly.ModuleImports });
  const d = dispatcher(cpu);
  const slot = d.take(instance.exports.run as WebAssembly.ExportValue);
  const dispatch = d.dispatch;
  const assumed = g.assumed;
  const multi = nBlocks > 1 || g.flatCs;
  for (let k = 1; k < nBlocks; k++) (blocks[k].units ??= []).push(entry);
  const fn = (cpu2: Cpu, limit: number): boolean => {
    if ((cpu2.flatBits & assumed) !== assumed || (multi && cpu2.segMax[CS] !== 0xffffffff)) return false;
    cpu2.jitEntryCount = cpu2.instructionCount;
    cpu2.jitEntryEip = cpu2.eip;
    cpu2.jitUnit = unit;
    dispatch(slot, cpu2.eip, limit - cpu2.instructionCount, cpu2.rMask, cpu2.rWant, cpu2.wMask, cpu2.wWant);
    cpu2.instructionCount = cpu2.jitEntryCount + J[1];
    cpu2.eip = J[0];
    cpu2.curBlock = blocks[J[4]];
    return true;
  };
  slots.set(fn, { d, slot });
  return fn;
}

/**
 * Every unit's function sits in one table per Cpu, and JavaScript enters them all through one
 * exported WebAssembly function that makes the indirect call: the call site in the units' entry
 * closures then always calls the same WebAssembly function, which V8 calls through its fast,
 * inlined entry wrapper instead of the generic one (4.4 % of Debian's boot).
 */
interface Dispatcher {
  table: WebAssembly.Table;
  dispatch: (slot: number, e0: number, room: number, rm: number, rw: number, wm: number, ww: number) => number;
  free: number[];
  take(run: WebAssembly.ExportValue): number;
}

const dispatchers = new WeakMap<Cpu, Dispatcher>();
const slots = new WeakMap<Compiled, { d: Dispatcher; slot: number }>();

/** The dispatch module: `dispatch(slot, …6 arguments) = call_indirect (type run) slot`. */
function dispatchModule(): Uint8Array<ArrayBuffer> {
  const i32s = (n: number): number[] => new Array<number>(n).fill(0x7f);
  const types = [0x02, 0x60, 0x06, ...i32s(6), 0x01, 0x7f, 0x60, 0x07, ...i32s(7), 0x01, 0x7f];
  const str = (x: string): number[] => [x.length, ...[...x].map((ch) => ch.charCodeAt(0))];
  const imports = [0x01, ...str('m'), ...str('t'), 0x01, 0x70, 0x00, 0x00]; // table funcref, min 0
  const funcs = [0x01, 0x01];
  const exports = [0x01, ...str('dispatch'), 0x00, 0x00];
  const body = [0x00, 0x20, 1, 0x20, 2, 0x20, 3, 0x20, 4, 0x20, 5, 0x20, 6, 0x20, 0, 0x11, 0x00, 0x00, 0x0b];
  const code = [0x01, body.length, ...body];
  const sec = (id: number, b: number[]): number[] => [id, b.length, ...b];
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...sec(1, types), ...sec(2, imports), ...sec(3, funcs), ...sec(7, exports), ...sec(10, code)]);
}

function dispatcher(cpu: Cpu): Dispatcher {
  let d = dispatchers.get(cpu);
  if (d !== undefined) return d;
  const table = new WebAssembly.Table({ element: 'anyfunc', initial: 256 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(dispatchModule()), { m: { t: table } });
  const free: number[] = [];
  let next = 0;
  d = {
    table,
    dispatch: inst.exports.dispatch as Dispatcher['dispatch'],
    free,
    take(run: WebAssembly.ExportValue): number {
      const slot = free.pop() ?? next++;
      if (slot >= table.length) table.grow(table.length);
      table.set(slot, run);
      return slot;
    },
  };
  dispatchers.set(cpu, d);
  return d;
}

/** A compiled unit is no longer used: its table slot (and the module it holds) is let go. */
export function releaseCompiled(fn: Compiled): void {
  const s = slots.get(fn);
  if (s === undefined) return;
  slots.delete(fn);
  s.d.table.set(s.slot, null);
  s.d.free.push(s.slot);
}
