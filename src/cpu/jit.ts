// The block compiler: a hot decoded block becomes one JavaScript function (new Function), together
// with the hot blocks of the same code page it branches to — a region. The function runs the
// region's blocks in a loop (switch on the block index), so a hot loop that spans several blocks
// stays inside one function, which V8 optimises as a whole (on-stack replacement).
//
// Common instructions are emitted inline — register moves, ALU operations with their lazy-flag
// record, memory operands on flat segments through the TLB fast path, PUSH/POP, and conditional
// branches whose condition is computed from the locals of the flag-setting instruction before
// them. Every other instruction calls its interpreter handler from its own (monomorphic) call site,
// so semantics stay in one place. A flag result that the block overwrites before anything can
// observe it (a read, a possible fault, a handler call, the block's end) is not recorded.
//
// Contract with Cpu.runBlock:
// - The function returns false, having done nothing, when a segment it assumed flat no longer is
//   (or, for a multi-block region, when CS is not 4 GiB).
// - Before an instruction that can fault it stores that instruction's EIP in c.eip, so a fault (or
//   an EXIT) leaves c.eip at the faulting instruction; c.curBlock / c.curEntry name the block being
//   run, from which runBlock derives the retired count. (A handler that may switch tasks leaves
//   the new task's EIP: before it the count is brought up to date and c.curBlock is a block
//   without instructions, so that nothing more is counted.)
// - When an instruction sets c.brk the function stops after it, with c.eip at the next one.
// - At the end of each block it adds the block's length to instructionCount; it goes on to the
//   next block of the region only when c.brk is clear and the whole block fits in `limit`, as the
//   run loop would; otherwise it returns with c.eip at the next instruction.

import { CS, F_ARITH, SS } from './constants.js';
import type { Cpu, Handler } from './cpu.js';
import type { Insn } from './decoder.js';
import { ud } from './ops.js';
import { BYTE_REG_OFFSET, I_FLAGS, LAZY_A, LAZY_B, LAZY_MASK, LAZY_OP, LAZY_RES, LAZY_SIGN, LAZY_STALE } from './state.js';
import { Block, endsBlock, relativeBranch } from './decoder.js';

export type Compiled = (c: Cpu, limit: number) => boolean;

/** Debug aid: VMRUN_JIT_DUMP=<hex EIP> prints the source compiled for the block starting there. */
const DUMP = process.env.VMRUN_JIT_DUMP ?? '';

// Lazy-flag operation codes (as in cpu.ts).
const L_ADD = 1, L_SUB = 3, L_LOGIC = 5;
const BR8 = BYTE_REG_OFFSET;

/** Bit in Cpu.flatBits for a segment that is base 0, 4 GiB, expand-up, read/write (SS: and 32-bit). */
export function flatBit(seg: number): number {
  return 1 << seg;
}

interface FlagState {
  op: 'add' | 'sub' | 'logic' | 'incdec';
  a: string;
  b: string;
  r: string;
  size: number;
}

/** Flags an instruction reads and writes, and whether it is a point where all flags must be exact. */
const ALL = F_ARITH;
/** Line tag of an instruction's early exit, and where in it the dead flag record goes. */
const EARLY_EXIT = -2;
const FLAGS_HERE = '/*flags*/';

class Gen {
  readonly lines: string[] = [];
  /**
   * Per line: the index (in the block) of the instruction whose flag result it records, -1, or
   * EARLY_EXIT for the brk check after an instruction (whose index is then in exitOf).
   */
  readonly tags: number[] = [];
  readonly exitOf: number[] = [];
  private n = 0;
  assumed = 0;
  flags: FlagState | null = null;
  /** The instruction being generated: its index, the flags it writes and reads, whether it syncs. */
  k = 0;
  writes = 0;
  reads = 0;
  sync = false;
  /** The current block's EIP offset from the region's entry. */
  d = 0;
  /** The current instruction's EIP (an expression), stored in c.eip before anything that can fault. */
  eipHere = '';
  /** The instruction just generated ended the block (its code leaves it). */
  ended = false;
  constructor(readonly cpu: Cpu, readonly code32: boolean, readonly region: Region) {}

  tmp(): string {
    return `t${this.n++}`;
  }

  emit(s: string): void {
    this.lines.push(s);
    this.tags.push(-1);
  }

  /** Emit a line that only records the current instruction's flag result (dropped when dead). */
  emitFlags(s: string): void {
    this.lines.push(s);
    this.tags.push(this.k);
  }

  /**
   * Emit the early exit after the current instruction; FLAGS_HERE in it is replaced by the
   * instruction's flag record when that is dead on the fall-through path.
   */
  emitEarlyExit(s: string): void {
    this.exitOf[this.lines.length] = this.k;
    this.lines.push(s);
    this.tags.push(EARLY_EXIT);
  }

  /** Roll the output back to `mark` lines (an instruction that turned out not to be inlined). */
  rollback(mark: number): void {
    this.lines.length = mark;
    this.tags.length = mark;
    this.exitOf.length = Math.min(this.exitOf.length, mark);
  }

  /** Whether segment `seg` is flat now (and will be guarded at entry if used that way). */
  flat(seg: number): boolean {
    if ((this.cpu.flatBits & flatBit(seg)) === 0) return false;
    this.assumed |= flatBit(seg);
    return true;
  }

  /**
   * Code that leaves the current block for EIP `pc` (an expression), `delta` bytes from the
   * region's entry when known statically (null: look it up). `checkBrk`: the block's last
   * instruction was a handler call, which may have set brk.
   */
  goto(pc: string, delta: number | null, checkBrk: boolean): string {
    const r = this.region;
    const brk = checkBrk ? 'c.brk === 0 && ' : '';
    const to = (k: number): string =>
      `if (${brk}c.instructionCount + ${r.lens[k]} <= limit) { b = ${k}; c.curBlock = B${k}; c.curEntry = pc; continue; }`;
    if (delta !== null) {
      const k = r.find(delta);
      if (k < 0) return `c.eip = ${pc}; return true;`;
      return `pc = ${pc}; ${to(k)} c.eip = pc; return true;`;
    }
    const cases = r.deltas.map((d, k) => `case ${d}: ${to(k)} break;`).join(' ');
    return `pc = ${pc}; switch ((pc - E) | 0) { ${cases} } c.eip = pc; return true;`;
  }
}

/** The blocks compiled together: index 0 is the entry; deltas are EIP offsets from its start. */
class Region {
  readonly blocks: Block[] = [];
  readonly deltas: number[] = [];
  readonly lens: number[] = [];
  /** Several blocks (CS must then be 4 GiB so that every branch inside the page is in the limit). */
  get multi(): boolean {
    return this.blocks.length > 1;
  }

  find(delta: number): number {
    if (!this.multi) return delta === 0 ? 0 : -1;
    return this.deltas.indexOf(delta);
  }

  add(b: Block, delta: number): void {
    this.blocks.push(b);
    this.deltas.push(delta);
    this.lens.push(b.insns.length);
  }
}

function mask(size: number): number {
  return size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
}

function sign(size: number): number {
  return size === 4 ? (0x80000000 | 0) : size === 2 ? 0x8000 : 0x80;
}

function reg(r: number, size: number): string {
  return size === 4 ? `R[${r << 1}]` : size === 2 ? `R16[${r << 2}]` : `R8[${BR8[r]}]`;
}

function eaExpr(i: Insn): string {
  if (i.asz === 4) {
    let e = `${i.disp}`;
    if (i.base >= 0) e += ` + R[${i.base << 1}]`;
    if (i.index >= 0) e += i.scale === 0 ? ` + R[${i.index << 1}]` : ` + (R[${i.index << 1}] << ${i.scale})`;
    return `((${e}) | 0)`;
  }
  let e = `${i.disp}`;
  if (i.base >= 0) e += ` + R16[${i.base << 2}]`;
  if (i.index >= 0) e += ` + R16[${i.index << 2}]`;
  return `((${e}) & 0xffff)`;
}

/** Emit a memory read; returns the variable holding the value. */
function memRead(g: Gen, seg: number, off: string, size: number): string {
  const v = g.tmp();
  g.sync = true;
  // The slow path's value is made an int32 like the fast path's: an MMIO read returns the
  // monitor's data, which may be an unsigned number (IMUL's overflow test multiplies it).
  const norm = size === 4 ? ' | 0' : '';
  if (!g.flat(seg)) {
    g.emit(`c.eip = ${g.eipHere}; const ${v} = c.read${size * 8}(${seg}, ${off})${norm};`);
    return v;
  }
  // The fast path (a TLB hit, aligned) cannot fault; the slow path stores EIP first.
  const o = g.tmp(), e = g.tmp();
  const slow = `{ c.eip = ${g.eipHere}; ${v} = c.read${size * 8}(${seg}, ${o})${norm}; }`;
  g.emit(`const ${o} = ${off}; const ${e} = TLB[${o} >>> 12]; let ${v};`);
  if (size === 1) {
    g.emit(`if ((${e} & RM) === RW) ${v} = U8[(${e} & -4096) | (${o} & 4095)]; else ${slow}`);
  } else {
    // Any access within the page: aligned through the wide view, else byte by byte.
    const a = g.tmp();
    const wide = size === 2 ? `(${a} & 1) === 0 ? U16[${a} >> 1] : U8[${a}] | (U8[${a} + 1] << 8)`
      : `(${a} & 3) === 0 ? I32[${a} >> 2] : U8[${a}] | (U8[${a} + 1] << 8) | (U8[${a} + 2] << 16) | (U8[${a} + 3] << 24)`;
    g.emit(`if ((${e} & RM) === RW && (${o} & 4095) <= ${4096 - size}) { const ${a} = (${e} & -4096) | (${o} & 4095); ${v} = ${wide}; } else ${slow}`);
  }
  return v;
}

/** Emit a memory write. */
function memWrite(g: Gen, seg: number, off: string, size: number, val: string): void {
  g.sync = true;
  if (!g.flat(seg)) {
    g.emit(`c.eip = ${g.eipHere}; c.write${size * 8}(${seg}, ${off}, ${val});`);
    return;
  }
  const o = g.tmp(), e = g.tmp();
  const slow = `{ c.eip = ${g.eipHere}; c.write${size * 8}(${seg}, ${o}, ${val}); }`;
  g.emit(`{ const ${o} = ${off}; const ${e} = TLB[${o} >>> 12];`);
  if (size === 1) {
    g.emit(`if ((${e} & WM) === WW) U8[(${e} & -4096) | (${o} & 4095)] = ${val}; else ${slow} }`);
  } else {
    const a = g.tmp(), x = g.tmp();
    const wide = size === 2
      ? `if ((${a} & 1) === 0) U16[${a} >> 1] = ${x}; else { U8[${a}] = ${x}; U8[${a} + 1] = ${x} >> 8; }`
      : `if ((${a} & 3) === 0) I32[${a} >> 2] = ${x}; else { U8[${a}] = ${x}; U8[${a} + 1] = ${x} >> 8; U8[${a} + 2] = ${x} >> 16; U8[${a} + 3] = ${x} >> 24; }`;
    g.emit(`if ((${e} & WM) === WW && (${o} & 4095) <= ${4096 - size}) { const ${a} = (${e} & -4096) | (${o} & 4095), ${x} = ${val}; ${wide} } else ${slow} }`);
  }
}

/**
 * Probe that a memory operand is writable (so flags are not changed by an instruction that
 * faults): the slow probe checks both pages of an access that crosses into the next one.
 */
function memProbe(g: Gen, seg: number, off: string, size: number): void {
  g.sync = true;
  if (g.flat(seg)) {
    const crosses = size === 1 ? '' : ` || (${off} & 4095) > ${4096 - size}`;
    g.emit(`if ((TLB[${off} >>> 12] & WM) !== WW${crosses}) { c.eip = ${g.eipHere}; c.probeWrite(${seg}, ${off}, ${size}); }`);
  } else {
    g.emit(`c.eip = ${g.eipHere}; c.probeWrite(${seg}, ${off}, ${size});`);
  }
}

function lazy(g: Gen, op: number, a: string, b: string, r: string, size: number, which: number): void {
  g.writes = ALL;
  g.emitFlags(`LZ[${LAZY_OP}] = ${op}; LZ[${LAZY_A}] = ${a}; LZ[${LAZY_B}] = ${b}; LZ[${LAZY_RES}] = ${r}; LZ[${LAZY_MASK}] = ${mask(size)}; LZ[${LAZY_SIGN}] = ${sign(size)}; LZ[${LAZY_STALE}] = ${which};`);
}

/** ALU op 0–7 (ADD OR ADC SBB AND SUB XOR CMP) on two value expressions; null when not inlined. */
function alu(g: Gen, op: number, a: string, b: string, size: number): string | null {
  const r = g.tmp();
  switch (op) {
    case 0:
      g.emit(`const ${r} = (${a} + ${b}) | 0;`);
      lazy(g, L_ADD, a, b, r, size, F_ARITH);
      g.flags = { op: 'add', a, b, r, size };
      return r;
    case 5: case 7:
      g.emit(`const ${r} = (${a} - ${b}) | 0;`);
      lazy(g, L_SUB, a, b, r, size, F_ARITH);
      g.flags = { op: 'sub', a, b, r, size };
      return r;
    case 1: case 4: case 6: {
      const sym = op === 1 ? '|' : op === 4 ? '&' : '^';
      g.emit(`const ${r} = ${a} ${sym} ${b};`);
      lazy(g, L_LOGIC, a, b, r, size, F_ARITH);
      g.flags = { op: 'logic', a, b, r, size };
      return r;
    }
    default:
      return null;
  }
}

/**
 * `a < b` (or `<=`) between the low `size` bytes of a and b taken as unsigned, in int32
 * arithmetic: for 32 bits both sides have their sign bit flipped, which maps unsigned order onto
 * signed order. (`(a >>> 0) < (b >>> 0)` gives numbers up to 2^32, which V8 first optimises as small
 * integers and must deoptimise when the first address above 2 GiB comes.)
 */
function unsignedLess(a: string, b: string, size: number, orEqual = false): string {
  const op = orEqual ? '<=' : '<';
  if (size === 4) return `((${a} ^ -2147483648) ${op} (${b} ^ -2147483648))`;
  const m = mask(size);
  return `((${a} & ${m}) ${op} (${b} & ${m}))`;
}

/** CF computed from the flag-setting instruction's locals, or null. */
function carryExpr(g: Gen): string | null {
  const f = g.flags;
  if (f === null) return null;
  switch (f.op) {
    case 'add': return unsignedLess(f.r, f.a, f.size);
    case 'sub': return unsignedLess(f.a, f.b, f.size);
    case 'logic': return 'false';
    default: return null;
  }
}

/**
 * Code for shift/rotate `kind` (ModRM.reg: ROL ROR - - SHL SHR SAL SAR) of the register `x` of
 * `bits` bits by `n` (an expression, 1 to bits - 1) and its flags, as the interpreter sets them:
 * rotates CF and OF only; shifts CF, OF, SF, ZF, PF, with AF clear. 16-bit: SHL/SHR/SAR only.
 */
function shiftCode(g: Gen, kind: number, x: string, n: string, bits: number): void {
  const a = g.tmp(), r = g.tmp();
  const top = bits - 1, m = bits === 32 ? '' : ' & 0xffff';
  g.emit(`const ${a} = ${x};`);
  switch (kind) {
    case 0: // ROL: CF = bit 0 of the result, OF = MSB ^ CF
      g.emit(`const ${r} = (${a} << ${n}) | (${a} >>> (32 - ${n})); ${x} = ${r};`);
      g.emitFlags(`c.setArith((${r} & 1) | ((((${r} >>> 31) ^ ${r}) & 1) << 11), 0x801);`);
      return;
    case 1: // ROR: CF = MSB of the result, OF = the two top bits differ
      g.emit(`const ${r} = (${a} >>> ${n}) | (${a} << (32 - ${n})); ${x} = ${r};`);
      g.emitFlags(`c.setArith((${r} >>> 31) | ((((${r} >>> 31) ^ (${r} >>> 30)) & 1) << 11), 0x801);`);
      return;
    case 4: case 6: // SHL: CF = the last bit out, OF = MSB ^ CF
      g.emit(`const ${r} = (${a} << ${n})${m}; ${x} = ${r};`);
      g.emitFlags(`c.setArith(((${a} >>> (${bits} - ${n})) & 1) | ((((${r} >>> ${top}) ^ (${a} >>> (${bits} - ${n}))) & 1) << 11) | c.szp(${r}, ${bits / 8}), 0x8d5);`);
      return;
    case 5: // SHR: OF = the operand's MSB for a count of 1
      g.emit(`const ${r} = ${a} >>> ${n}; ${x} = ${r};`);
      g.emitFlags(`c.setArith(((${a} >>> (${n} - 1)) & 1) | (${n} === 1 ? (((${a} >>> ${top}) & 1) << 11) : 0) | c.szp(${r}, ${bits / 8}), 0x8d5);`);
      return;
    default: { // SAR
      const sx = bits === 32 ? a : `((${a} << 16) >> 16)`;
      g.emit(`const ${r} = (${sx} >> ${n})${m}; ${x} = ${r};`);
      g.emitFlags(`c.setArith(((${sx} >> (${n} - 1)) & 1) | c.szp(${r}, ${bits / 8}), 0x8d5);`);
    }
  }
}

/** A condition computed from the flag-setting instruction's locals, or null. */
function condExpr(g: Gen, cc: number): string | null {
  const f = g.flags;
  if (f === null) return null;
  const m = mask(f.size), s = sign(f.size);
  const z = `((${f.r} & ${m}) === 0)`;
  const sf = `((${f.r} & ${s}) !== 0)`;
  const neg = (e: string | null): string | null => (e === null ? null : `!${e}`);
  const base = (k: number): string | null => {
    switch (f.op) {
      case 'sub': {
        const sh = 32 - f.size * 8;
        const sa = sh === 0 ? `(${f.a} | 0)` : `((${f.a} << ${sh}) >> ${sh})`;
        const sb = sh === 0 ? `(${f.b} | 0)` : `((${f.b} << ${sh}) >> ${sh})`;
        switch (k) {
          case 0: return `(((${f.a} ^ ${f.b}) & (${f.a} ^ ${f.r}) & ${s}) !== 0)`;
          case 2: return unsignedLess(f.a, f.b, f.size);
          case 4: return z;
          case 6: return unsignedLess(f.a, f.b, f.size, true);
          case 8: return sf;
          case 12: return `(${sa} < ${sb})`;
          case 14: return `(${sa} <= ${sb})`;
          default: return null;
        }
      }
      case 'logic':
        switch (k) {
          case 0: return 'false';
          case 2: return 'false';
          case 4: return z;
          case 6: return z;
          case 8: return sf;
          case 12: return sf;
          case 14: return `(${z} || ${sf})`;
          default: return null;
        }
      case 'add':
        switch (k) {
          case 2: return unsignedLess(f.r, f.a, f.size);
          case 4: return z;
          case 8: return sf;
          default: return null;
        }
      default: // inc/dec: CF is not theirs
        switch (k) {
          case 4: return z;
          case 8: return sf;
          default: return null;
        }
    }
  };
  return (cc & 1) === 0 ? base(cc) : neg(base(cc & ~1));
}

/**
 * Emit inline code for instruction `i` (the k-th of the block). Returns false when the
 * instruction is not one the compiler inlines (the caller emits a handler call).
 */
function inline(g: Gen, i: Insn, eipHere: string, next: string, nextOff: number, last: boolean, n: number): boolean {
  const op = i.op;
  const osz = i.osz;
  const mem = i.modrm >= 0 && i.mod !== 3;
  // Memory accesses store EIP on their slow paths, the only code here that can fault (and mark
  // the instruction as a point where every flag must be exact).
  g.eipHere = eipHere;
  // ALU r/m,r / r,r/m / acc,imm
  if (op < 0x40 && (op & 7) < 6) {
    const aop = (op >> 3) & 7;
    if (aop === 2 || aop === 3) return false;
    const form = op & 7;
    const size = (form & 1) === 0 ? 1 : osz;
    if (form === 4 || form === 5) {
      const a = g.tmp();
      g.emit(`const ${a} = ${reg(0, size)};`);
      const r = alu(g, aop, a, `${i.imm | 0}`, size);
      if (r === null) return false;
      if (aop !== 7) g.emit(`${reg(0, size)} = ${r};`);
      return true;
    }
    const toRm = form < 2;
    if (!mem) {
      const dst = toRm ? i.rm : i.reg, src = toRm ? i.reg : i.rm;
      const a = g.tmp(), b = g.tmp();
      g.emit(`const ${a} = ${reg(dst, size)}, ${b} = ${reg(src, size)};`);
      const r = alu(g, aop, a, b, size);
      if (r === null) return false;
      if (aop !== 7) g.emit(`${reg(dst, size)} = ${r};`);
      return true;
    }
    const off = g.tmp();
    g.emit(`const ${off} = ${eaExpr(i)};`);
    const m = memRead(g, i.seg, off, size);
    const rv = g.tmp();
    g.emit(`const ${rv} = ${reg(i.reg, size)};`);
    if (toRm && aop !== 7) memProbe(g, i.seg, off, size);
    const r = toRm ? alu(g, aop, m, rv, size) : alu(g, aop, rv, m, size);
    if (r === null) return false;
    if (aop !== 7) {
      if (toRm) memWrite(g, i.seg, off, size, r);
      else g.emit(`${reg(i.reg, size)} = ${r};`);
    }
    return true;
  }
  switch (op) {
    case 0x80: case 0x81: case 0x83: {
      const size = op === 0x80 ? 1 : osz;
      const aop = i.reg;
      if (aop === 2 || aop === 3) return false;
      const imm = op === 0x83 ? ((i.imm << 24) >> 24) : i.imm | 0;
      if (!mem) {
        const a = g.tmp();
        g.emit(`const ${a} = ${reg(i.rm, size)};`);
        const r = alu(g, aop, a, `${imm}`, size);
        if (r === null) return false;
        if (aop !== 7) g.emit(`${reg(i.rm, size)} = ${r};`);
        return true;
      }
      const off = g.tmp();
      g.emit(`const ${off} = ${eaExpr(i)};`);
      const m = memRead(g, i.seg, off, size);
      if (aop !== 7) memProbe(g, i.seg, off, size);
      const r = alu(g, aop, m, `${imm}`, size);
      if (r === null) return false;
      if (aop !== 7) memWrite(g, i.seg, off, size, r);
      return true;
    }
    case 0x84: case 0x85: case 0xa8: case 0xa9: { // TEST
      const size = (op & 1) === 0 ? 1 : osz;
      let a: string;
      if (op >= 0xa8) {
        a = g.tmp();
        g.emit(`const ${a} = ${reg(0, size)};`);
        alu(g, 4, a, `${i.imm | 0}`, size);
        return true;
      }
      if (mem) {
        a = memRead(g, i.seg, eaExpr(i), size);
      } else {
        a = g.tmp();
        g.emit(`const ${a} = ${reg(i.rm, size)};`);
      }
      const b = g.tmp();
      g.emit(`const ${b} = ${reg(i.reg, size)};`);
      alu(g, 4, a, b, size);
      return true;
    }
    case 0x88: case 0x89: { // MOV r/m, r
      const size = op === 0x88 ? 1 : osz;
      if (!mem) {
        g.emit(`${reg(i.rm, size)} = ${reg(i.reg, size)};`);
        return true;
      }
      memWrite(g, i.seg, eaExpr(i), size, reg(i.reg, size));
      return true;
    }
    case 0x8a: case 0x8b: { // MOV r, r/m
      const size = op === 0x8a ? 1 : osz;
      if (!mem) {
        g.emit(`${reg(i.reg, size)} = ${reg(i.rm, size)};`);
        return true;
      }
      const v = memRead(g, i.seg, eaExpr(i), size);
      g.emit(`${reg(i.reg, size)} = ${v};`);
      return true;
    }
    case 0xc6: case 0xc7: {
      if (i.reg !== 0) return false;
      const size = op === 0xc6 ? 1 : osz;
      if (!mem) {
        g.emit(`${reg(i.rm, size)} = ${i.imm | 0};`);
        return true;
      }
      memWrite(g, i.seg, eaExpr(i), size, `${i.imm | 0}`);
      return true;
    }
    case 0x8d: // LEA
      if (!mem) return false;
      g.emit(`${reg(i.reg, osz)} = ${eaExpr(i)};`);
      return true;
    case 0x1b6: case 0x1b7: case 0x1be: case 0x1bf: { // MOVZX / MOVSX
      const ssize = (op & 1) === 0 ? 1 : 2;
      let v: string;
      if (mem) {
        v = memRead(g, i.seg, eaExpr(i), ssize);
      } else {
        v = reg(i.rm, ssize);
      }
      const sx = op >= 0x1be;
      const sh = 32 - ssize * 8;
      g.emit(`${reg(i.reg, osz)} = ${sx ? `((${v}) << ${sh}) >> ${sh}` : v};`);
      return true;
    }
    default:
      break;
  }
  // Shifts and rotates of a register by an immediate (or 1), flags set eagerly: 32-bit all but
  // RCL/RCR, 16-bit SHL/SHR/SAR by less than 16.
  if ((op === 0xc1 || op === 0xd1) && !mem && (osz === 4 ? i.reg !== 2 && i.reg !== 3 : i.reg >= 4)) {
    const n = (op === 0xd1 ? 1 : i.imm) & 31;
    if (osz === 2 && n >= 16) return false;
    g.flags = null;
    if (n === 0) return true; // no operation, flags unchanged
    g.writes = i.reg <= 1 ? 0x801 : ALL;
    shiftCode(g, i.reg, reg(i.rm, osz), `${n}`, osz * 8);
    return true;
  }
  // Shifts and rotates of a 32-bit register by CL: nothing at all (flags included) when CL & 31 is 0.
  if (op === 0xd3 && !mem && osz === 4 && i.reg !== 2 && i.reg !== 3) {
    g.flags = null; // (writes stays 0: with a zero count the flags before it live on)
    const n = g.tmp();
    g.emit(`const ${n} = R8[8] & 31;`);
    g.emit(`if (${n} !== 0) {`);
    shiftCode(g, i.reg, reg(i.rm, 4), n, 32);
    g.emit('}');
    return true;
  }
  // IMUL r32, r/m32 (and with an immediate): CF = OF = the product does not fit in 32 bits;
  // SF, ZF, PF from the low half and AF clear, as the interpreter leaves them.
  if ((op === 0x1af || op === 0x69 || op === 0x6b) && osz === 4) {
    const a = g.tmp();
    if (mem) {
      g.emit(`const ${a} = ${memRead(g, i.seg, eaExpr(i), 4)};`);
    } else {
      g.emit(`const ${a} = R[${i.rm << 1}];`);
    }
    const b = op === 0x1af ? `R[${i.reg << 1}]` : `${op === 0x6b ? (i.imm << 24) >> 24 : i.imm | 0}`;
    const lo = g.tmp();
    g.emit(`const ${lo} = Math.imul(${a}, ${b});`);
    g.writes = ALL;
    g.emitFlags(`c.setArith(((${a} * ${b}) !== ${lo} ? 0x801 : 0) | c.szp(${lo}, 4), 0x8d5);`);
    g.emit(`R[${i.reg << 1}] = ${lo};`);
    g.flags = null;
    return true;
  }
  if (op === 0x90) return true; // NOP, PAUSE (F3 90)
  if (op >= 0xb0 && op <= 0xb7) {
    g.emit(`${reg(op & 7, 1)} = ${i.imm & 0xff};`);
    return true;
  }
  if (op >= 0xb8 && op <= 0xbf) {
    g.emit(`${reg(op & 7, osz)} = ${i.imm | 0};`);
    return true;
  }
  if (op >= 0x40 && op <= 0x4f) { // INC/DEC r
    const r = op & 7, dec = op >= 0x48;
    const a = g.tmp(), res = g.tmp();
    // CF is kept: from the locals of an earlier flag-setting instruction of the block when it is
    // one the compiler knows, else from the lazy record.
    const cf = carryExpr(g);
    if (cf !== null) {
      g.emitFlags(`ST[${I_FLAGS}] = (ST[${I_FLAGS}] & -2) | (${cf} ? 1 : 0);`);
    } else {
      g.emitFlags(`if ((LZ[${LAZY_STALE}] & 1) !== 0) ST[${I_FLAGS}] = (ST[${I_FLAGS}] & -2) | c.getCF();`);
      g.reads = 1;
    }
    g.emit(`const ${a} = ${reg(r, osz)}; const ${res} = (${a} ${dec ? '-' : '+'} 1) | 0; ${reg(r, osz)} = ${res};`);
    lazy(g, dec ? L_SUB : L_ADD, a, '1', res, osz, F_ARITH & ~1);
    g.flags = { op: 'incdec', a, b: '1', r: res, size: osz };
    return true;
  }
  // Stack operations on a flat 32-bit stack.
  const flatStack = osz === 4 && g.flat(SS);
  if (op >= 0x50 && op <= 0x57 && flatStack && (op & 7) !== 4) {
    const sp = g.tmp();
    g.emit(`const ${sp} = (R[8] - 4) | 0;`);
    memWrite(g, SS, sp, 4, `R[${(op & 7) << 1}]`);
    g.emit(`R[8] = ${sp};`);
    return true;
  }
  if (op >= 0x58 && op <= 0x5f && flatStack && (op & 7) !== 4) {
    const v = memRead(g, SS, 'R[8]', 4);
    g.emit(`R[8] = (R[8] + 4) | 0; R[${(op & 7) << 1}] = ${v};`);
    return true;
  }
  if ((op === 0x68 || op === 0x6a) && flatStack) {
    const sp = g.tmp();
    g.emit(`const ${sp} = (R[8] - 4) | 0;`);
    memWrite(g, SS, sp, 4, `${op === 0x6a ? (i.imm << 24) >> 24 : i.imm | 0}`);
    g.emit(`R[8] = ${sp};`);
    return true;
  }
  // Control transfers (always the last instruction of a block).
  if (last) {
    const target = (disp: number): string => i.osz === 4 ? `((${next} + ${disp}) | 0)` : `((${next} + ${disp}) & 0xffff)`;
    // A target's offset from the region's entry; only 32-bit targets stay in multi-block regions.
    const delta = (disp: number): number | null => (i.osz === 4 ? g.d + nextOff + disp : null);
    if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f)) {
      const cc = op & 0xf;
      const disp = op < 0x100 ? (i.imm << 24) >> 24 : i.imm | 0;
      const cond = condExpr(g, cc) ?? `c.cond(${cc})`;
      g.reads = ALL;
      g.emit(`c.instructionCount += ${n};`);
      g.emit(`if (${cond}) { ${g.goto(target(disp), delta(disp), false)} }`);
      g.emit(g.goto(next, g.d + nextOff, false));
      g.ended = true;
      return true;
    }
    if (op === 0xeb || op === 0xe9) {
      const disp = op === 0xeb ? (i.imm << 24) >> 24 : i.imm | 0;
      g.emit(`c.instructionCount += ${n};`);
      g.emit(g.goto(target(disp), delta(disp), false));
      g.ended = true;
      return true;
    }
    if (op === 0xe8 && flatStack) {
      const sp = g.tmp();
      g.emit(`const ${sp} = (R[8] - 4) | 0;`);
      memWrite(g, SS, sp, 4, next);
      g.emit(`R[8] = ${sp}; c.instructionCount += ${n};`);
      // (the push may have written code: brk)
      g.emit(g.goto(target(i.imm | 0), delta(i.imm | 0), true));
      g.ended = true;
      return true;
    }
  }
  return false;
}

/**
 * Handlers that may switch tasks (and then fault with EIP already the new task's): far JMP and
 * CALL, INT n, INT3, INTO, ICEBP (through a task gate), IRET (with NT). All end their block.
 */
function switchesTask(i: Insn): boolean {
  const op = i.op;
  return op === 0xea || op === 0x9a || op === 0xcc || op === 0xcd || op === 0xce || op === 0xcf || op === 0xf1 ||
    (op === 0xff && (i.reg === 3 || i.reg === 5));
}

/**
 * A block without instructions: Block.indexOf finds nothing before any EIP in it. Made at the
 * first compilation (decoder.ts may still be loading when this module is evaluated).
 */
let noInsns: Block | null = null;

/** Inlined instructions after which the block must check c.brk (anything that may end a block early). */
function mayBreak(i: Insn): boolean {
  if (i.op === 0x8d) return false; // LEA: no memory access
  // Inlined memory accesses take the slow path for code pages, MMIO and data breakpoints, which
  // may set brk: memory operands, PUSH and POP.
  return i.modrm >= 0 ? i.mod !== 3 : (i.op >= 0x50 && i.op <= 0x5f) || i.op === 0x68 || i.op === 0x6a;
}

/** Whether a block's last instruction may continue at its static targets (or, for dynamic, anywhere). */
export function successors(i: Insn, nextDelta: number): { targets: number[]; dynamic: boolean } {
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

/**
 * The locals a compiled function may load at each call, and the Cpu fields they hold: the TLB
 * masks (they change with CPL and CR0.WP).
 */
const LOCALS: [string, string][] = [
  ['RM', 'rMask'], ['RW', 'rWant'], ['WM', 'wMask'], ['WW', 'wWant'],
];
/**
 * The register file and the memory views, fixed for a Cpu's lifetime: bound once, when the block
 * is compiled, as variables of its closure. Loading them from `c` at every call costs one
 * property-load IC each while V8 runs the function in its baseline tier, which a hot block does for
 * thousands of calls before it is optimised.
 */
const VIEWS = ['R', 'R16', 'R8', 'LZ', 'ST', 'TLB', 'U8', 'U16', 'I32'] as const;

/**
 * Most blocks and instructions in one region (VMRUN_JIT_REGION; default 0: the entry block alone,
 * which still loops on itself). V8 optimises each new function on its own, in time superlinear in
 * its size, and runs it in its bytecode interpreter until then; measured on the bundled boots,
 * regions of several blocks cost more in optimisation than they saved (see docs/architecture.md).
 */
const REGION_MAX = 16;
const REGION_MAX_INSNS = Number(process.env.VMRUN_JIT_REGION ?? 0);
/** Regions are compiled: a compiled block depends on the other blocks of its page. */
export const REGIONS = REGION_MAX_INSNS > 0;

/**
 * The region of `entry`: with a 32-bit, 4 GiB CS, the blocks of the same page that lie on a loop
 * through it — reachable from it by direct branches, and leading back to it — and that have
 * already run at least `minRuns` times; otherwise (or when there is no such loop) the entry
 * block alone, which still loops on itself when it branches back to its start. (Loops across a
 * page boundary were tried, through the current translation: the bigger functions took V8 so
 * much longer to optimise that the LZ4 decompression ran 3× slower.)
 */
function findRegion(cpu: Cpu, entry: Block, code32: boolean, minRuns: number): Region {
  const region = new Region();
  region.add(entry, 0);
  if (REGION_MAX_INSNS === 0 || !code32 || cpu.segMax[CS] !== 0xffffffff) return region;
  const phys = Math.floor(entry.key / 2);
  const pageOff = phys % 4096, pageBase = phys - pageOff;
  // Forward: the hot blocks reachable from the entry, with their edges.
  const found: Block[] = [entry];
  const deltas: number[] = [0];
  const edges: number[][] = [];
  for (let q = 0; q < found.length; q++) {
    const b = found[q];
    let len = 0;
    for (const i of b.insns) len += i.len;
    const out: number[] = [];
    edges.push(out);
    for (const d of successors(b.insns[b.insns.length - 1], deltas[q] + len).targets) {
      if (pageOff + d < 0 || pageOff + d >= 4096) continue;
      let k = deltas.indexOf(d);
      if (k < 0) {
        if (found.length >= 4 * REGION_MAX) continue;
        const t = cpu.blocks.get((pageBase + pageOff + d) * 2 + 1);
        if (t === undefined || !t.valid || !t.cacheable || (t.execCount < minRuns && t.compiled === undefined)) continue;
        k = found.length;
        found.push(t);
        deltas.push(d);
      }
      out.push(k);
    }
  }
  // Backward: keep those from which the entry can be reached again.
  const onLoop = new Array<boolean>(found.length).fill(false);
  onLoop[0] = true;
  for (let changed = true; changed;) {
    changed = false;
    for (let k = 1; k < found.length; k++) {
      if (!onLoop[k] && edges[k].some((t) => onLoop[t])) onLoop[k] = changed = true;
    }
  }
  let size = entry.insns.length;
  for (let k = 1; k < found.length && region.blocks.length < REGION_MAX; k++) {
    if (!onLoop[k] || size + found[k].insns.length > REGION_MAX_INSNS) continue;
    size += found[k].insns.length;
    region.add(found[k], deltas[k]);
  }
  return region;
}

/** Compile the region of a hot block; null when it is not worth it (nothing inlined). */
export function compileBlock(cpu: Cpu, entry: Block, code32: boolean, minRuns: number): Compiled | null {
  const region = findRegion(cpu, entry, code32, minRuns);
  const ipMask = code32 ? '| 0' : '& 0xffff';
  const g = new Gen(cpu, code32, region);
  let inlinedAny = false;
  const handlers: Handler[] = [];
  const insnParams: Insn[] = [];
  const body: string[] = [];
  for (let bk = 0; bk < region.blocks.length; bk++) {
    const insns = region.blocks[bk].insns;
    const n = insns.length;
    g.d = region.deltas[bk];
    g.flags = null;
    g.rollback(0);
    const writes: number[] = [], reads: number[] = [], sync: boolean[] = [];
    let off = 0;
    let ended = false;
    for (let k = 0; k < n; k++) {
      const i = insns[k];
      const eipHere = k === 0 ? 'e0' : `((e0 + ${off}) ${ipMask})`;
      off += i.len;
      const next = `((e0 + ${off}) ${ipMask})`;
      const last = k === n - 1;
      if (DUMP !== '') g.emit(`// ${k}: op ${i.op.toString(16)}`); // (source size is compile time)
      g.k = k;
      g.writes = 0;
      g.reads = 0;
      g.sync = false;
      g.ended = false;
      let done = false;
      if (i.handler !== ud) { // (ud: a LOCK prefix the instruction does not take)
        const mark = g.lines.length;
        const savedFlags: FlagState | null = g.flags;
        done = inline(g, i, eipHere, next, off, last, n);
        if (!done) {
          g.rollback(mark);
          g.flags = savedFlags;
        }
      }
      if (done) {
        inlinedAny = true;
        writes.push(g.writes);
        reads.push(g.reads);
        sync.push(g.sync);
        if (g.ended) {
          ended = true;
          continue;
        }
        if (last) {
          g.emit(`c.instructionCount += ${n};`);
          g.emit(g.goto(next, code32 ? g.d + off : null, mayBreak(i)));
          ended = true;
        } else if (mayBreak(i)) {
          g.emitEarlyExit(`if (c.brk !== 0) { ${FLAGS_HERE}c.eip = ${next}; c.instructionCount += ${k + 1}; return true; }`);
        }
        continue;
      }
      // A handler call: the interpreter's semantics for this instruction.
      g.flags = null;
      writes.push(0);
      reads.push(ALL);
      sync.push(true);
      handlers.push(i.handler);
      insnParams.push(i);
      const h = handlers.length - 1;
      if (last && switchesTask(i)) {
        // A task switch loads the new task's EIP before it loads (and may fault on) its
        // segments: runBlock could not find the faulting instruction from EIP. The instructions
        // before this one are counted first, and while it runs curBlock is a block without
        // instructions, so a fault counts nothing more (as the interpreter counts them).
        g.emit(`c.eip = ${eipHere}; c.nextEip = ${next}; c.instructionCount += ${k}; c.curBlock = NB; H${h}(c, Q${insnParams.length - 1}); c.curBlock = B${bk};`);
      } else {
        g.emit(`c.eip = ${eipHere}; c.nextEip = ${next}; H${h}(c, Q${insnParams.length - 1});`);
      }
      if (last) {
        g.emit(`c.instructionCount += ${switchesTask(i) ? n - k : n};`);
        const { targets, dynamic } = successors(i, g.d + off);
        if (dynamic) {
          g.emit(g.goto('c.nextEip', null, true));
        } else if (targets.length === 2 && code32) {
          g.emit(`if (c.nextEip === ${next}) { ${g.goto(next, targets[1], true)} }`);
          g.emit(g.goto('c.nextEip', targets[0], true));
        } else if (targets.length === 1 && code32) {
          g.emit(g.goto('c.nextEip', targets[0], true));
        } else {
          g.emit('c.eip = c.nextEip; return true;');
        }
        ended = true;
      } else {
        g.emit(`if (c.brk !== 0) { c.eip = c.nextEip; c.instructionCount += ${k + 1}; return true; }`);
      }
    }
    if (!ended) throw new Error('jit: a block without an end');
    // Flag liveness, backwards from the block's end (where every flag is live): a result is dead
    // when later instructions overwrite all of it before a read, a possible fault or the end.
    let live = ALL;
    const dead: boolean[] = [];
    for (let k = writes.length - 1; k >= 0; k--) {
      dead[k] = writes[k] !== 0 && (writes[k] & live) === 0;
      live = sync[k] ? ALL : (live & ~writes[k]) | reads[k];
    }
    // A dead result is still recorded on the early exit right after its instruction (brk set
    // by an MMIO write or a write to a code page): there the flags are the monitor's to see and
    // the next run()'s to use. (Earlier results are live there anyway: a memory access syncs.)
    const lines: string[] = [];
    for (let x = 0; x < g.lines.length; x++) {
      const tag = g.tags[x];
      if (tag >= 0) {
        if (!dead[tag]) lines.push(g.lines[x]);
      } else if (tag === EARLY_EXIT) {
        const k = g.exitOf[x];
        const record = dead[k] ? g.lines.filter((_, y) => g.tags[y] === k).join(' ') + ' ' : '';
        lines.push(g.lines[x].replace(FLAGS_HERE, record));
      } else {
        lines.push(g.lines[x]);
      }
    }
    body.push(`case ${bk}: {`, `const e0 = pc;`, ...lines, `}`);
  }
  if (!inlinedAny) return null;
  const code = body.join('\n');
  const guards: string[] = [];
  if (g.assumed !== 0) guards.push(`(c.flatBits & ${g.assumed}) !== ${g.assumed}`);
  if (region.multi) guards.push(`c.segMax[${CS}] !== 4294967295`);
  const header = [
    guards.length > 0 ? `if (${guards.join(' || ')}) return false;` : '',
    // Only the masks the code uses (a short block pays for every load at each call).
    LOCALS.filter(([name]) => new RegExp(`\\b${name}\\b`).test(code)).map(([name, field]) => `const ${name} = c.${field};`).join(' '),
    `const E = c.eip; let pc = E, b = 0;`,
  ];
  // Q<k>: instruction records, H<h>: handlers, B<k>: the region's blocks, NB: the block without
  // instructions (distinct from locals).
  const params = [...VIEWS, 'NB', ...insnParams.map((_, k) => `Q${k}`), ...handlers.map((_, k) => `H${k}`), ...region.blocks.map((_, k) => `B${k}`)];
  const src = `return (function block(c, limit) {\n${header.join('\n')}\nfor (;;) {\nswitch (b) {\n${code}\n}\nc.eip = pc; return true;\n}\n});`;
  if (DUMP !== '') {
    const at = parseInt(DUMP, 16), start = cpu.eip >>> 0;
    if (at >= start && at < start + 64) console.error(`region at ${start.toString(16)} (${region.blocks.length} blocks):\n${src}`);
  }
  const factory = new Function(...params, src) as (...args: unknown[]) => Compiled;
  noInsns ??= new Block(-1);
  return factory(cpu.regs, cpu.regs16, cpu.regs8, cpu.lz, cpu.st, cpu.tlb, cpu.u8, cpu.u16, cpu.i32, noInsns, ...insnParams, ...handlers, ...region.blocks);
}
