// Instruction semantics for the general-purpose integer instructions: one handler per opcode
// (group opcodes switch on ModRM.reg), all with the signature (cpu, insn). System instructions
// (descriptor tables, control registers, far transfers, interrupts, I/O) are in system.ts.

import {
  BR, CS, DE, DS, EAX, EBP, EBX, ECX, EDI, EDX, ES, ESI, ESP, F_AF, F_ARITH, F_CF, F_DF,
  F_OF, F_PF, F_SF, F_ZF, FS, GS, OF, SS, UD,
} from './constants.js';
import { L_ADC, L_ADD, L_LOGIC, L_SBB, L_SUB, type Cpu, type Handler } from './cpu.js';
import type { Insn } from './decoder.js';
import * as sys from './system.js';
import { x87Group0FAE } from './fpu.js';
import { CPUID_CMOV, CPUID_CX8 } from './cpuid.js';
import { LAZY_CIN, I_FLAGS } from './state.js';

// ------------------------------------------------------------------------------------------------
// Operand helpers

export function ea(c: Cpu, i: Insn): number {
  if (i.asz === 4) {
    let a = i.disp;
    if (i.base >= 0) a = (a + c.regs[i.base << 1]) | 0;
    if (i.index >= 0) a = (a + (c.regs[i.index << 1] << i.scale)) | 0;
    return a;
  }
  let a = i.disp;
  if (i.base >= 0) a += c.regs16[i.base << 2];
  if (i.index >= 0) a += c.regs16[i.index << 2];
  return a & 0xffff;
}

export function readRM(c: Cpu, i: Insn, size: number): number {
  if (i.mod === 3) return c.getReg(i.rm, size);
  return c.readMem(i.seg, ea(c, i), size);
}

export function writeRM(c: Cpu, i: Insn, size: number, v: number): void {
  if (i.mod === 3) c.setReg(i.rm, size, v);
  else c.writeMem(i.seg, ea(c, i), size, v);
}

function sext(v: number, size: number): number {
  return size === 4 ? v | 0 : size === 2 ? (v << 16) >> 16 : (v << 24) >> 24;
}

function mask(size: number): number {
  return size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
}

export const unimplemented: Handler = (c, i) => {
  const name = i.op >= 0x100 ? `0F ${(i.op & 0xff).toString(16).padStart(2, '0')}` : i.op.toString(16).padStart(2, '0');
  c.internalError(`opcode ${name.toUpperCase()}${i.modrm >= 0 ? ` /${i.reg}` : ''} is not implemented`);
};

const ud: Handler = (c) => c.raise(UD, -1);

// ------------------------------------------------------------------------------------------------
// ALU

/** ADD OR ADC SBB AND SUB XOR CMP by index; returns the result (CMP's is discarded). */
export function alu(c: Cpu, op: number, a: number, b: number, size: number): number {
  let r: number;
  switch (op) {
    case 0: r = (a + b) | 0; c.setLazy(L_ADD, a, b, r, size, F_ARITH); return r;
    case 1: r = a | b; c.setLazy(L_LOGIC, a, b, r, size, F_ARITH); return r;
    case 2: {
      const cin = c.getCF();
      r = (a + b + cin) | 0;
      c.setLazy(L_ADC, a, b, r, size, F_ARITH);
      c.lz[LAZY_CIN] = cin;
      return r;
    }
    case 3: {
      const cin = c.getCF();
      r = (a - b - cin) | 0;
      c.setLazy(L_SBB, a, b, r, size, F_ARITH);
      c.lz[LAZY_CIN] = cin;
      return r;
    }
    case 4: r = a & b; c.setLazy(L_LOGIC, a, b, r, size, F_ARITH); return r;
    case 5: case 7: r = (a - b) | 0; c.setLazy(L_SUB, a, b, r, size, F_ARITH); return r;
    default: r = a ^ b; c.setLazy(L_LOGIC, a, b, r, size, F_ARITH); return r;
  }
}

function aluRmReg(op: number, byte: boolean): Handler {
  return (c, i) => {
    const size = byte ? 1 : i.osz;
    const b = c.getReg(i.reg, size);
    if (i.mod === 3) {
      const r = alu(c, op, c.getReg(i.rm, size), b, size);
      if (op !== 7) c.setReg(i.rm, size, r);
      return;
    }
    const off = ea(c, i);
    const a = c.readMem(i.seg, off, size);
    if (op !== 7) c.probeWrite(i.seg, off, size); // a faulting write must leave the flags alone
    const r = alu(c, op, a, b, size);
    if (op !== 7) c.writeMem(i.seg, off, size, r);
  };
}

function aluRegRm(op: number, byte: boolean): Handler {
  return (c, i) => {
    const size = byte ? 1 : i.osz;
    const r = alu(c, op, c.getReg(i.reg, size), readRM(c, i, size), size);
    if (op !== 7) c.setReg(i.reg, size, r);
  };
}

function aluAccImm(op: number, byte: boolean): Handler {
  return (c, i) => {
    const size = byte ? 1 : i.osz;
    const r = alu(c, op, c.getReg(EAX, size), i.imm, size);
    if (op !== 7) c.setReg(EAX, size, r);
  };
}

/** 80/81/82/83: ALU r/m, imm. */
function grp1(byte: boolean, sx8: boolean): Handler {
  return (c, i) => {
    const size = byte ? 1 : i.osz;
    const imm = sx8 ? sext(i.imm, 1) : i.imm;
    const op = i.reg;
    if (i.mod === 3) {
      const r = alu(c, op, c.getReg(i.rm, size), imm, size);
      if (op !== 7) c.setReg(i.rm, size, r);
      return;
    }
    const off = ea(c, i);
    const a = c.readMem(i.seg, off, size);
    if (op !== 7) c.probeWrite(i.seg, off, size);
    const r = alu(c, op, a, imm, size);
    if (op !== 7) c.writeMem(i.seg, off, size, r);
  };
}

function incdec(c: Cpu, v: number, size: number, dec: boolean): number {
  const r = dec ? (v - 1) | 0 : (v + 1) | 0;
  c.setLazy(dec ? L_SUB : L_ADD, v, 1, r, size, F_ARITH & ~F_CF);
  return r;
}

// ------------------------------------------------------------------------------------------------
// Shifts and rotates

/** The most significant bit of a `bits`-wide value. */
function msb(v: number, bits: number): number {
  return (v >>> (bits - 1)) & 1;
}

/** Shift/rotate `a` (size bytes) by `count` (already masked to 5 bits), setting flags. */
export function shift(c: Cpu, op: number, a: number, count: number, size: number): number {
  const bits = size * 8;
  const m = mask(size);
  a &= m;
  if (count === 0) return a;
  let r: number, cf: number, of: number;
  switch (op) {
    case 0: { // ROL
      const n = count & (bits - 1);
      r = n === 0 ? a : ((a << n) | (a >>> (bits - n))) & m;
      cf = r & 1;
      of = msb(r, bits) ^ cf;
      c.setArith((cf ? F_CF : 0) | (of ? F_OF : 0), F_CF | F_OF);
      return r;
    }
    case 1: { // ROR
      const n = count & (bits - 1);
      r = n === 0 ? a : ((a >>> n) | (a << (bits - n))) & m;
      cf = msb(r, bits);
      of = cf ^ ((r >>> (bits - 2)) & 1);
      c.setArith((cf ? F_CF : 0) | (of ? F_OF : 0), F_CF | F_OF);
      return r;
    }
    case 2: { // RCL
      const n = count % (bits + 1);
      let v = a, carry = c.getCF();
      for (let k = 0; k < n; k++) {
        const out = msb(v, bits);
        v = ((v << 1) | carry) & m;
        carry = out;
      }
      r = v;
      of = msb(r, bits) ^ carry;
      c.setArith((carry ? F_CF : 0) | (of ? F_OF : 0), F_CF | F_OF);
      return r;
    }
    case 3: { // RCR
      const n = count % (bits + 1);
      let v = a, carry = c.getCF();
      of = msb(v, bits) ^ carry;
      for (let k = 0; k < n; k++) {
        const out = v & 1;
        v = (v >>> 1) | (carry << (bits - 1));
        v &= m;
        carry = out;
      }
      r = v;
      if (n !== 1) of = msb(r, bits) ^ ((r >>> (bits - 2)) & 1);
      c.setArith((carry ? F_CF : 0) | (of ? F_OF : 0), F_CF | F_OF);
      return r;
    }
    case 4: case 6: { // SHL/SAL
      if (count < bits) {
        r = (a << count) & m;
        cf = (a >>> (bits - count)) & 1;
      } else {
        r = 0;
        cf = count === bits ? a & 1 : 0;
      }
      of = msb(r, bits) ^ cf;
      break;
    }
    case 5: { // SHR
      r = count < bits ? a >>> count : 0;
      cf = count <= bits ? (a >>> (count - 1)) & 1 : 0;
      if (count === 32) cf = (a >>> 31) & 1;
      of = count === 1 ? msb(a, bits) : 0;
      break;
    }
    default: { // SAR
      const s = sext(a, size);
      r = (count < bits ? s >> count : s >> 31) & m;
      cf = (count < bits ? s >> (count - 1) : s >> 31) & 1;
      of = 0;
      break;
    }
  }
  c.setArith((cf ? F_CF : 0) | (of ? F_OF : 0) | c.szp(r, size), F_ARITH & ~F_AF);
  c.setArith(0, F_AF);
  return r;
}

function grp2(byte: boolean, kind: number): Handler {
  // kind 0: count imm8, 1: count 1, 2: count CL
  return (c, i) => {
    const size = byte ? 1 : i.osz;
    const count = (kind === 0 ? i.imm : kind === 1 ? 1 : c.regs8[8]) & 31;
    if (i.mod === 3) {
      c.setReg(i.rm, size, shift(c, i.reg, c.getReg(i.rm, size), count, size));
      return;
    }
    const off = ea(c, i);
    const v = c.readMem(i.seg, off, size);
    if (count === 0) return;
    c.probeWrite(i.seg, off, size);
    c.writeMem(i.seg, off, size, shift(c, i.reg, v, count, size));
  };
}

function shld(c: Cpu, i: Insn, count: number, right: boolean): void {
  const size = i.osz;
  count &= 31;
  const off = i.mod === 3 ? 0 : ea(c, i);
  const a = (i.mod === 3 ? c.getReg(i.rm, size) : c.readMem(i.seg, off, size)) & mask(size);
  if (count === 0) return;
  if (i.mod !== 3) c.probeWrite(i.seg, off, size);
  const b = c.getReg(i.reg, size) & mask(size);
  const bits = size * 8;
  let r: number, cf: number;
  if (size === 4) {
    if (!right) {
      r = ((a << count) | (b >>> (32 - count))) | 0;
      cf = (a >>> (32 - count)) & 1;
    } else {
      r = ((a >>> count) | (b << (32 - count))) | 0;
      cf = (a >>> (count - 1)) & 1;
    }
  } else {
    // 16-bit: the 32-bit concatenation, counts above 16 use the bits of the source again.
    if (!right) {
      const wide = (a << 16) | b;
      const wide2 = count <= 16 ? wide : (b << 16) | a;
      const n = count <= 16 ? count : count - 16;
      r = n === 0 ? wide2 >>> 16 : ((wide2 << n) | (count <= 16 ? 0 : (a >>> (16 - n)) & ((1 << n) - 1))) >>> 16;
      cf = count <= 16 ? (a >>> (16 - count)) & 1 : (b >>> (32 - count)) & 1;
    } else {
      const wide = (b << 16) | a;
      const n = count <= 16 ? count : count - 16;
      const src = count <= 16 ? wide : ((a << 16) | b);
      r = (src >>> n) & 0xffff;
      cf = count <= 16 ? (a >>> (count - 1)) & 1 : (b >>> (count - 17)) & 1;
    }
    r &= 0xffff;
  }
  const msbA = (a >>> (bits - 1)) & 1;
  const of = ((r >>> (bits - 1)) & 1) ^ msbA;
  c.setArith((cf ? F_CF : 0) | (of ? F_OF : 0) | c.szp(r, size), F_ARITH & ~F_AF);
  c.setArith(0, F_AF);
  if (i.mod === 3) c.setReg(i.rm, size, r);
  else c.writeMem(i.seg, off, size, r);
}

// ------------------------------------------------------------------------------------------------
// Multiply and divide

/** Unsigned 32×32 → 64: low in `mulLo`, high in `mulHi`. */
let mulLo = 0, mulHi = 0;
function mulu32(a: number, b: number): void {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  mulLo = ((mid << 16) | (ll & 0xffff)) | 0;
  mulHi = (hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) | 0;
}

function muls32(a: number, b: number): void {
  mulu32(a, b);
  let hi = mulHi;
  if (a < 0) hi = (hi - b) | 0;
  if (b < 0) hi = (hi - a) | 0;
  mulHi = hi;
}

function mulFlags(c: Cpu, overflow: boolean, low: number, size: number): void {
  c.setArith((overflow ? F_CF | F_OF : 0) | c.szp(low, size), F_ARITH & ~F_AF);
  c.setArith(0, F_AF);
}

/** IMUL r, r/m, imm (and the two-operand form with imm = the register). */
function imul2(c: Cpu, a: number, b: number, size: number): number {
  if (size === 2) {
    const p = sext(a, 2) * sext(b, 2);
    const r = p & 0xffff;
    mulFlags(c, p !== sext(r, 2), r, 2);
    return r;
  }
  muls32(a | 0, b | 0);
  mulFlags(c, mulHi !== (mulLo >> 31), mulLo, 4);
  return mulLo;
}

/** Unsigned 64 / 32 with the quotient known to fit 32 bits (hi < d). */
let divQ = 0, divR = 0;
function divu64(hi: number, lo: number, d: number): void {
  let r = hi >>> 0;
  const n1 = r * 65536 + (lo >>> 16);
  const q1 = Math.floor(n1 / d);
  r = n1 - q1 * d;
  const n2 = r * 65536 + (lo & 0xffff);
  const q2 = Math.floor(n2 / d);
  r = n2 - q2 * d;
  divQ = q1 * 65536 + q2;
  divR = r;
}

function grp3(byte: boolean): Handler {
  return (c, i) => {
    const size = byte ? 1 : i.osz;
    switch (i.reg) {
      case 0: case 1: { // TEST r/m, imm
        const a = readRM(c, i, size);
        alu(c, 4, a, i.imm, size);
        return;
      }
      case 2: { // NOT
        if (i.mod === 3) { c.setReg(i.rm, size, ~c.getReg(i.rm, size)); return; }
        const off = ea(c, i);
        c.writeMem(i.seg, off, size, ~c.readMem(i.seg, off, size));
        return;
      }
      case 3: { // NEG
        const off = i.mod === 3 ? 0 : ea(c, i);
        const a = i.mod === 3 ? c.getReg(i.rm, size) : c.readMem(i.seg, off, size);
        if (i.mod !== 3) c.probeWrite(i.seg, off, size);
        const r = alu(c, 5, 0, a, size);
        if (i.mod === 3) c.setReg(i.rm, size, r);
        else c.writeMem(i.seg, off, size, r);
        return;
      }
      case 4: { // MUL
        const b = readRM(c, i, size);
        if (size === 1) {
          const p = c.regs8[0] * b;
          c.regs16[0] = p;
          mulFlags(c, p > 0xff, p, 1);
        } else if (size === 2) {
          const p = c.regs16[0] * b;
          c.regs16[0] = p;
          c.regs16[EDX << 2] = p >>> 16;
          mulFlags(c, p > 0xffff, p, 2);
        } else {
          mulu32(c.regs[EAX << 1], b);
          c.regs[EAX << 1] = mulLo;
          c.regs[EDX << 1] = mulHi;
          mulFlags(c, mulHi !== 0, mulLo, 4);
        }
        return;
      }
      case 5: { // IMUL
        const b = readRM(c, i, size);
        if (size === 1) {
          const p = sext(c.regs8[0], 1) * sext(b, 1);
          c.regs16[0] = p;
          mulFlags(c, p !== sext(p, 1), p, 1);
        } else if (size === 2) {
          const p = sext(c.regs16[0], 2) * sext(b, 2);
          c.regs16[0] = p;
          c.regs16[EDX << 2] = p >> 16;
          mulFlags(c, p !== sext(p, 2), p, 2);
        } else {
          muls32(c.regs[EAX << 1], b | 0);
          c.regs[EAX << 1] = mulLo;
          c.regs[EDX << 1] = mulHi;
          mulFlags(c, mulHi !== (mulLo >> 31), mulLo, 4);
        }
        return;
      }
      case 6: { // DIV
        const d = readRM(c, i, size) >>> 0;
        if (d === 0) c.raise(DE, -1);
        if (size === 1) {
          const n = c.regs16[0];
          const q = Math.floor(n / d);
          if (q > 0xff) c.raise(DE, -1);
          c.regs8[0] = q;
          c.regs8[1] = n % d;
        } else if (size === 2) {
          const n = c.regs16[EDX << 2] * 65536 + c.regs16[0];
          const q = Math.floor(n / d);
          if (q > 0xffff) c.raise(DE, -1);
          c.regs16[0] = q;
          c.regs16[EDX << 2] = n % d;
        } else {
          const hi = c.regs[EDX << 1] >>> 0;
          if (hi >= d) c.raise(DE, -1);
          divu64(hi, c.regs[EAX << 1], d);
          c.regs[EAX << 1] = divQ;
          c.regs[EDX << 1] = divR;
        }
        return;
      }
      default: { // IDIV
        const d = sext(readRM(c, i, size), size);
        if (d === 0) c.raise(DE, -1);
        if (size === 1) {
          const n = sext(c.regs16[0], 2);
          const q = Math.trunc(n / d);
          if (q > 127 || q < -128) c.raise(DE, -1);
          c.regs8[0] = q;
          c.regs8[1] = n - q * d;
        } else if (size === 2) {
          const n = (c.regs16[EDX << 2] << 16) | c.regs16[0];
          const q = Math.trunc(n / d);
          if (q > 32767 || q < -32768) c.raise(DE, -1);
          c.regs16[0] = q;
          c.regs16[EDX << 2] = n - q * d;
        } else {
          let hi = c.regs[EDX << 1], lo = c.regs[EAX << 1];
          const negN = hi < 0;
          if (negN) { // negate the 64-bit dividend
            lo = (~lo + 1) | 0;
            hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
          }
          const ad = Math.abs(d);
          if ((hi >>> 0) >= ad) c.raise(DE, -1);
          divu64(hi, lo, ad);
          let q = divQ, r = divR;
          if (negN !== d < 0) q = -q;
          if (negN) r = -r;
          if (q > 0x7fffffff || q < -0x80000000) c.raise(DE, -1);
          c.regs[EAX << 1] = q;
          c.regs[EDX << 1] = r;
        }
        return;
      }
    }
  };
}

// ------------------------------------------------------------------------------------------------
// Stack, moves, misc

function rel(c: Cpu, i: Insn, disp: number): void {
  c.nextEip = i.osz === 4 ? (c.nextEip + disp) | 0 : (c.nextEip + disp) & 0xffff;
}

function jcc8(cc: number): Handler {
  return (c, i) => { if (c.cond(cc)) rel(c, i, (i.imm << 24) >> 24); };
}

function jccZ(cc: number): Handler {
  return (c, i) => { if (c.cond(cc)) rel(c, i, i.imm); };
}

/** Count register for string/loop instructions (by address size). */
function getCount(c: Cpu, i: Insn): number {
  return i.asz === 4 ? c.regs[ECX << 1] : c.regs16[ECX << 2];
}

function setCount(c: Cpu, i: Insn, v: number): void {
  if (i.asz === 4) c.regs[ECX << 1] = v;
  else c.regs16[ECX << 2] = v;
}

// ------------------------------------------------------------------------------------------------
// String instructions

/** Iterations done per step before a REP string instruction yields (interrupts, the budget). */
const REP_CHUNK = 4096;

function strIdx(c: Cpu, i: Insn, r: number): number {
  return i.asz === 4 ? c.regs[r << 1] : c.regs16[r << 2];
}

function strAdv(c: Cpu, i: Insn, r: number, size: number): void {
  const d = (c.st[I_FLAGS] & F_DF) !== 0 ? -size : size;
  if (i.asz === 4) c.regs[r << 1] = (c.regs[r << 1] + d) | 0;
  else c.regs16[r << 2] = c.regs16[r << 2] + d;
}

/**
 * Run `one` under REP semantics. `cmp`: REPE/REPNE termination by ZF. An execution does up to
 * REP_CHUNK elements; it stops early only after an element that must leave the instruction
 * (`stringStop`: an MMIO write, a data breakpoint), never because decoded code was dropped
 * (`brk` alone): that depends on what the block cache holds, and the count of executions (each a
 * retired instruction) must not.
 */
function rep(c: Cpu, i: Insn, one: (c: Cpu, i: Insn) => void, cmp: boolean): void {
  if ((i.prefix & 3) === 0) {
    one(c, i);
    return;
  }
  let n = getCount(c, i);
  if (n === 0) return;
  c.stringStop = 0;
  for (let k = 0; k < REP_CHUNK; k++) {
    one(c, i);
    n = (n - 1) | 0;
    if (i.asz === 2) n &= 0xffff;
    setCount(c, i, n);
    if (n === 0) return;
    if (cmp) {
      const zf = c.getZF() !== 0;
      if ((i.prefix & 1) !== 0 ? !zf : zf) return;
    }
    if (c.stringStop !== 0) break;
  }
  // Not finished: execute this instruction again (an interrupt may be taken in between).
  c.nextEip = c.eip;
  c.brk = 1;
}

function strSize(i: Insn): number {
  return (i.op & 1) === 0 ? 1 : i.osz;
}

const movsOne = (c: Cpu, i: Insn): void => {
  const size = strSize(i);
  const v = c.readMem(i.segOvr >= 0 ? i.segOvr : DS, strIdx(c, i, ESI), size);
  c.writeMem(ES, strIdx(c, i, EDI), size, v);
  strAdv(c, i, ESI, size);
  strAdv(c, i, EDI, size);
};

const cmpsOne = (c: Cpu, i: Insn): void => {
  const size = strSize(i);
  const a = c.readMem(i.segOvr >= 0 ? i.segOvr : DS, strIdx(c, i, ESI), size);
  const b = c.readMem(ES, strIdx(c, i, EDI), size);
  alu(c, 7, a, b, size);
  strAdv(c, i, ESI, size);
  strAdv(c, i, EDI, size);
};

const stosOne = (c: Cpu, i: Insn): void => {
  const size = strSize(i);
  c.writeMem(ES, strIdx(c, i, EDI), size, c.getReg(EAX, size));
  strAdv(c, i, EDI, size);
};

const lodsOne = (c: Cpu, i: Insn): void => {
  const size = strSize(i);
  c.setReg(EAX, size, c.readMem(i.segOvr >= 0 ? i.segOvr : DS, strIdx(c, i, ESI), size));
  strAdv(c, i, ESI, size);
};

const scasOne = (c: Cpu, i: Insn): void => {
  const size = strSize(i);
  const b = c.readMem(ES, strIdx(c, i, EDI), size);
  alu(c, 7, c.getReg(EAX, size), b, size);
  strAdv(c, i, EDI, size);
};

/**
 * REP STOS and REP MOVS with 32-bit addresses on flat segments, in either direction: runs of
 * elements within a page are filled or copied with typed-array operations (stringRun) when the
 * TLB grants the fast path (RAM, no decoded code, accessed/dirty already set); an element that
 * cannot be part of a run goes the normal way. At most REP_CHUNK elements per execution.
 */
function repFast(c: Cpu, i: Insn, one: (c: Cpu, i: Insn) => void): void {
  const movs = i.op <= 0xa5;
  const src = i.segOvr >= 0 ? i.segOvr : DS;
  if ((i.prefix & 3) === 0 || i.asz !== 4 || (c.flatBits & (1 << ES)) === 0 ||
      (movs && (c.flatBits & (1 << src)) === 0)) {
    rep(c, i, one, false);
    return;
  }
  const size = strSize(i);
  const down = (c.st[I_FLAGS] & F_DF) !== 0;
  const R = c.regs;
  let n = R[ECX << 1] >>> 0;
  let left = REP_CHUNK;
  c.stringStop = 0;
  while (n > 0 && left > 0) {
    const cnt = stringRun(c, movs, size, down, Math.min(n, left));
    if (cnt === 0) {
      // Not a run the fast path can take (a page not yet in the TLB with the rights needed, an
      // element straddling pages, an overlap x86 defines element by element, MMIO, a watched
      // page): one element the normal way, which also fills the TLB for the next run.
      one(c, i);
      n--;
      left--;
      R[ECX << 1] = n;
      if (c.stringStop !== 0) break;
    } else {
      n -= cnt;
      left -= cnt;
      R[ECX << 1] = n;
    }
  }
  if (n === 0) return;
  c.nextEip = c.eip; // more to do: run this instruction again (an interrupt may come first)
  c.brk = 1;
}

/**
 * REP MOVS/STOS on flat segments: up to `max` elements that lie within one page at both ends
 * (going down with EFLAGS.DF, the run is the elements below the first one), when the TLB grants
 * the fast path there, copied or filled with one typed-array operation. ESI/EDI are advanced;
 * ECX is the caller's. Returns the elements done (0: none, the caller takes one the normal way).
 */
function stringRun(c: Cpu, movs: boolean, size: number, down: boolean, max: number): number {
  const R = c.regs, tlb = c.tlb, u8 = c.u8;
  const d = R[EDI << 1];
  const de = tlb[d >>> 12];
  if ((de & c.wMask) !== c.wWant || (d & 4095) + size > 4096) return 0;
  let cnt = Math.min(max, down ? (((d & 4095) / size) | 0) + 1 : ((4096 - (d & 4095)) / size) | 0);
  const dh = (de & -4096) | (d & 4095);
  const step = down ? -size : size;
  if (movs) {
    const s = R[ESI << 1];
    const se = tlb[s >>> 12];
    if ((se & c.rMask) !== c.rWant || (s & 4095) + size > 4096) return 0;
    cnt = Math.min(cnt, down ? (((s & 4095) / size) | 0) + 1 : ((4096 - (s & 4095)) / size) | 0);
    const sh = (se & -4096) | (s & 4095);
    // Element by element, a destination ahead of the source in the copy's direction and closer
    // than the run's length reads elements the run itself wrote (x86 then replicates the first
    // ones along): a run no longer than that distance reads only what was there before it, so it
    // is one memmove. A destination behind the source is a memmove at any length.
    const ahead = down ? sh - dh : dh - sh;
    if (ahead > 0 && ahead < cnt * size) {
      cnt = (ahead / size) | 0;
      if (cnt === 0) return 0;
    }
    const bytes = cnt * size;
    const lowD = down ? dh + size - bytes : dh, lowS = down ? sh + size - bytes : sh;
    u8.copyWithin(lowD, lowS, lowS + bytes);
    R[ESI << 1] = (s + cnt * step) | 0;
  } else {
    const v = c.getReg(EAX, size);
    const lo = down ? dh + size - cnt * size : dh;
    if (size === 1) u8.fill(v, lo, lo + cnt);
    else if (size === 4 && (lo & 3) === 0) c.i32.fill(v, lo >> 2, (lo >> 2) + cnt);
    else if (size === 2 && (lo & 1) === 0) c.u16.fill(v, lo >> 1, (lo >> 1) + cnt);
    else return 0;
  }
  R[EDI << 1] = (d + cnt * step) | 0;
  return cnt;
}

// ------------------------------------------------------------------------------------------------
// BCD

const daa: Handler = (c) => {
  const al = c.regs8[0];
  const cf = c.getCF(), af = c.getAF();
  let r = al, ncf = 0, naf = 0;
  if ((al & 0xf) > 9 || af) { r = (r + 6) & 0xff; naf = 1; ncf = cf | (al + 6 > 0xff ? 1 : 0); }
  if (al > 0x99 || cf) { r = (r + 0x60) & 0xff; ncf = 1; }
  c.regs8[0] = r;
  c.setArith((ncf ? F_CF : 0) | (naf ? F_AF : 0) | c.szp(r, 1), F_ARITH & ~F_OF);
  c.setArith(0, F_OF);
};

const das: Handler = (c) => {
  const al = c.regs8[0];
  const cf = c.getCF(), af = c.getAF();
  let r = al, ncf = 0, naf = 0;
  if ((al & 0xf) > 9 || af) { r = (r - 6) & 0xff; naf = 1; ncf = cf | (al < 6 ? 1 : 0); }
  if (al > 0x99 || cf) { r = (r - 0x60) & 0xff; ncf = 1; }
  c.regs8[0] = r;
  c.setArith((ncf ? F_CF : 0) | (naf ? F_AF : 0) | c.szp(r, 1), F_ARITH & ~F_OF);
  c.setArith(0, F_OF);
};

function aaaAas(sub: boolean): Handler {
  return (c) => {
    const al = c.regs8[0];
    let f = 0;
    if ((al & 0xf) > 9 || c.getAF()) {
      c.regs16[0] = sub ? c.regs16[0] - 6 : c.regs16[0] + 0x106;
      if (sub) c.regs8[1] = c.regs8[1] - 1;
      f = F_AF | F_CF;
    }
    c.regs8[0] &= 0xf;
    c.setArith(f | c.szp(c.regs8[0], 1), F_ARITH & ~F_OF);
    c.setArith(0, F_OF);
  };
}

const aam: Handler = (c, i) => {
  if (i.imm === 0) c.raise(DE, -1);
  const al = c.regs8[0];
  c.regs8[1] = Math.floor(al / i.imm);
  c.regs8[0] = al % i.imm;
  c.setArith(c.szp(c.regs8[0], 1), F_ARITH);
};

const aad: Handler = (c, i) => {
  const r = (c.regs8[0] + c.regs8[1] * i.imm) & 0xff;
  c.regs16[0] = r;
  alu(c, 0, 0, r, 1); // flags as an 8-bit result (SF ZF PF; the rest as the add of 0)
};

// ------------------------------------------------------------------------------------------------
// Bit instructions

function btOp(c: Cpu, i: Insn, bitOff: number, kind: number, immForm: boolean): void {
  // kind: 0 BT, 1 BTS, 2 BTR, 3 BTC
  const size = i.osz;
  if (i.mod === 3) {
    const n = bitOff & (size * 8 - 1);
    const v = c.getReg(i.rm, size);
    const bit = (v >>> n) & 1;
    c.setArith(bit ? F_CF : 0, F_CF);
    if (kind === 1) c.setReg(i.rm, size, v | (1 << n));
    else if (kind === 2) c.setReg(i.rm, size, v & ~(1 << n));
    else if (kind === 3) c.setReg(i.rm, size, v ^ (1 << n));
    return;
  }
  let off = ea(c, i);
  let n: number;
  if (immForm) {
    n = bitOff & (size * 8 - 1);
  } else {
    const s = size === 4 ? bitOff | 0 : sext(bitOff, 2);
    const unitBits = size * 8;
    const unit = Math.floor(s / unitBits);
    off = i.asz === 4 ? (off + unit * size) | 0 : (off + unit * size) & 0xffff;
    n = s - unit * unitBits;
  }
  const v = c.readMem(i.seg, off, size);
  if (kind !== 0) c.probeWrite(i.seg, off, size);
  const bit = (v >>> n) & 1;
  c.setArith(bit ? F_CF : 0, F_CF);
  if (kind === 1) c.writeMem(i.seg, off, size, v | (1 << n));
  else if (kind === 2) c.writeMem(i.seg, off, size, v & ~(1 << n));
  else if (kind === 3) c.writeMem(i.seg, off, size, v ^ (1 << n));
}

function bitScan(reverse: boolean): Handler {
  return (c, i) => {
    const size = i.osz;
    const v = readRM(c, i, size) & mask(size);
    if (v === 0) {
      c.setArith(F_ZF, F_ZF);
      return;
    }
    const r = reverse ? 31 - Math.clz32(v) : 31 - Math.clz32(v & -v);
    c.setReg(i.reg, size, r);
    c.setArith(0, F_ZF);
  };
}

// ------------------------------------------------------------------------------------------------
// The handler table

export const HANDLERS: Handler[] = new Array<Handler>(0x200).fill(unimplemented);
const H = HANDLERS;

for (let op = 0; op < 8; op++) {
  const b = op << 3;
  H[b] = aluRmReg(op, true);
  H[b + 1] = aluRmReg(op, false);
  H[b + 2] = aluRegRm(op, true);
  H[b + 3] = aluRegRm(op, false);
  H[b + 4] = aluAccImm(op, true);
  H[b + 5] = aluAccImm(op, false);
}
// PUSH/POP ES CS SS DS
H[0x06] = (c, i) => c.push(c.segSel[ES], i.osz);
H[0x07] = (c, i) => sys.popSeg(c, i, ES);
H[0x0e] = (c, i) => c.push(c.segSel[CS], i.osz);
H[0x0f] = ud; // POP CS is not an i686 instruction (0F is the two-byte escape)
H[0x16] = (c, i) => c.push(c.segSel[SS], i.osz);
H[0x17] = (c, i) => sys.popSeg(c, i, SS);
H[0x1e] = (c, i) => c.push(c.segSel[DS], i.osz);
H[0x1f] = (c, i) => sys.popSeg(c, i, DS);
H[0x27] = daa;
H[0x2f] = das;
H[0x37] = aaaAas(false);
H[0x3f] = aaaAas(true);
for (let r = 0; r < 8; r++) {
  H[0x40 + r] = (c, i) => c.setReg(r, i.osz, incdec(c, c.getReg(r, i.osz), i.osz, false));
  H[0x48 + r] = (c, i) => c.setReg(r, i.osz, incdec(c, c.getReg(r, i.osz), i.osz, true));
  H[0x50 + r] = r === ESP
    ? (c, i) => c.push(c.getReg(ESP, i.osz), i.osz)
    : (c, i) => c.push(c.getReg(r, i.osz), i.osz);
  H[0x58 + r] = r === ESP
    ? (c, i) => { const v = c.pop(i.osz); c.setReg(ESP, i.osz, v); }
    : (c, i) => c.setReg(r, i.osz, c.pop(i.osz));
  H[0x90 + r] = r === 0
    ? () => {} // NOP (also PAUSE with F3)
    : (c, i) => { const t = c.getReg(r, i.osz); c.setReg(r, i.osz, c.getReg(EAX, i.osz)); c.setReg(EAX, i.osz, t); };
  H[0xb0 + r] = (c, i) => c.setReg(r, 1, i.imm);
  H[0xb8 + r] = (c, i) => c.setReg(r, i.osz, i.imm);
  H[0x1c8 + r] = (c, i) => { // BSWAP
    const v = c.regs[r << 1];
    if (i.osz === 2) { c.regs16[r << 2] = 0; return; } // undefined for 16-bit; zero as real CPUs do
    c.regs[r << 1] = ((v >>> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24)) | 0;
  };
}
H[0x60] = (c, i) => { // PUSHA
  const size = i.osz;
  const sp = c.getReg(ESP, size);
  const sp0 = c.stack32 ? c.regs[ESP << 1] : c.regs16[ESP << 2];
  // Check every slot first so a fault leaves ESP unchanged; a 16-bit SP wraps inside the segment.
  for (let k = 1; k <= 8; k++) {
    c.probeWrite(SS, c.stack32 ? (sp0 - k * size) | 0 : (sp0 - k * size) & 0xffff, size);
  }
  for (let r = 0; r < 8; r++) c.push(r === ESP ? sp : c.getReg(r, size), size);
};
H[0x61] = (c, i) => { // POPA
  const size = i.osz;
  const vals = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let k = 0; k < 8; k++) vals[k] = c.peek(k * size, size);
  for (let k = 0; k < 8; k++) {
    const r = 7 - k;
    if (r !== ESP) c.setReg(r, size, vals[k]);
  }
  c.adjustSp(8 * size);
};
H[0x62] = (c, i) => { // BOUND
  if (i.mod === 3) c.raise(UD, -1);
  const size = i.osz;
  const off = ea(c, i);
  const lo = sext(c.readMem(i.seg, off, size), size);
  const hi = sext(c.readMem(i.seg, i.asz === 4 ? (off + size) | 0 : (off + size) & 0xffff, size), size);
  const v = sext(c.getReg(i.reg, size), size);
  if (v < lo || v > hi) c.raise(BR, -1);
};
H[0x63] = (c, i) => sys.arpl(c, i);
H[0x68] = (c, i) => c.push(i.imm, i.osz);
H[0x69] = (c, i) => c.setReg(i.reg, i.osz, imul2(c, readRM(c, i, i.osz), i.imm, i.osz));
H[0x6a] = (c, i) => c.push(sext(i.imm, 1), i.osz);
H[0x6b] = (c, i) => c.setReg(i.reg, i.osz, imul2(c, readRM(c, i, i.osz), sext(i.imm, 1), i.osz));
H[0x6c] = (c, i) => sys.ins(c, i, 1);
H[0x6d] = (c, i) => sys.ins(c, i, i.osz);
H[0x6e] = (c, i) => sys.outs(c, i, 1);
H[0x6f] = (c, i) => sys.outs(c, i, i.osz);
for (let cc = 0; cc < 16; cc++) {
  H[0x70 + cc] = jcc8(cc);
  H[0x180 + cc] = jccZ(cc);
  H[0x190 + cc] = (c, i) => writeRM(c, i, 1, c.cond(cc) ? 1 : 0);
  H[0x140 + cc] = (c, i) => { // CMOVcc: the source is read even when the condition is false
    sys.requireFeature(c, CPUID_CMOV);
    const v = readRM(c, i, i.osz);
    if (c.cond(cc)) c.setReg(i.reg, i.osz, v);
    else if (i.osz === 4) c.setReg(i.reg, 4, c.getReg(i.reg, 4));
  };
}
H[0x80] = grp1(true, false);
H[0x81] = grp1(false, false);
H[0x82] = grp1(true, false);
H[0x83] = grp1(false, true);
H[0x84] = (c, i) => { alu(c, 4, readRM(c, i, 1), c.getReg(i.reg, 1), 1); };
H[0x85] = (c, i) => { alu(c, 4, readRM(c, i, i.osz), c.getReg(i.reg, i.osz), i.osz); };
H[0x86] = (c, i) => xchg(c, i, 1);
H[0x87] = (c, i) => xchg(c, i, i.osz);
function xchg(c: Cpu, i: Insn, size: number): void {
  if (i.mod === 3) {
    const t = c.getReg(i.rm, size);
    c.setReg(i.rm, size, c.getReg(i.reg, size));
    c.setReg(i.reg, size, t);
    return;
  }
  const off = ea(c, i);
  const t = c.readMem(i.seg, off, size);
  c.writeMem(i.seg, off, size, c.getReg(i.reg, size));
  c.setReg(i.reg, size, t);
}
H[0x88] = (c, i) => writeRM(c, i, 1, c.getReg(i.reg, 1));
H[0x89] = (c, i) => writeRM(c, i, i.osz, c.getReg(i.reg, i.osz));
H[0x8a] = (c, i) => c.setReg(i.reg, 1, readRM(c, i, 1));
H[0x8b] = (c, i) => c.setReg(i.reg, i.osz, readRM(c, i, i.osz));
H[0x8c] = (c, i) => { // MOV r/m, Sreg
  if (i.reg > 5) c.raise(UD, -1);
  const v = c.segSel[i.reg];
  if (i.mod === 3) c.setReg(i.rm, i.osz === 4 ? 4 : 2, v);
  else c.writeMem(i.seg, ea(c, i), 2, v);
};
H[0x8d] = (c, i) => { // LEA
  if (i.mod === 3) c.raise(UD, -1);
  c.setReg(i.reg, i.osz, ea(c, i));
};
H[0x8e] = (c, i) => sys.movToSeg(c, i, readRM(c, i, 2));
H[0x8f] = (c, i) => { // POP r/m
  if (i.reg !== 0) c.raise(UD, -1);
  const size = i.osz;
  const v = c.peek(0, size);
  if (i.mod === 3) {
    c.adjustSp(size);
    c.setReg(i.rm, size, v);
    return;
  }
  // The address is computed with ESP already incremented.
  const saved = c.regs[ESP << 1];
  c.adjustSp(size);
  try {
    c.writeMem(i.seg, ea(c, i), size, v);
  } catch (e) {
    c.regs[ESP << 1] = saved;
    throw e;
  }
};
H[0x98] = (c, i) => { // CBW / CWDE
  if (i.osz === 4) c.regs[EAX << 1] = (c.regs16[0] << 16) >> 16;
  else c.regs16[0] = (c.regs8[0] << 24) >> 24;
};
H[0x99] = (c, i) => { // CWD / CDQ
  if (i.osz === 4) c.regs[EDX << 1] = c.regs[EAX << 1] >> 31;
  else c.regs16[EDX << 2] = (c.regs16[0] << 16) >> 31;
};
H[0x9a] = (c, i) => sys.farCall(c, i, i.imm2, i.imm);
H[0x9b] = (c) => sys.fwait(c);
H[0x9c] = (c, i) => sys.pushf(c, i);
H[0x9d] = (c, i) => sys.popf(c, i);
H[0x9e] = (c) => { // SAHF
  c.setArith(c.regs8[1], F_SF | F_ZF | F_AF | F_PF | F_CF);
};
H[0x9f] = (c) => { c.regs8[1] = (c.getFlags() & 0xd5) | 2; }; // LAHF
H[0xa0] = (c, i) => { c.regs8[0] = c.read8(i.seg, i.disp); };
H[0xa1] = (c, i) => c.setReg(EAX, i.osz, c.readMem(i.seg, i.disp, i.osz));
H[0xa2] = (c, i) => c.write8(i.seg, i.disp, c.regs8[0]);
H[0xa3] = (c, i) => c.writeMem(i.seg, i.disp, i.osz, c.getReg(EAX, i.osz));
H[0xa4] = (c, i) => repFast(c, i, movsOne);
H[0xa5] = (c, i) => repFast(c, i, movsOne);
H[0xa6] = (c, i) => rep(c, i, cmpsOne, true);
H[0xa7] = (c, i) => rep(c, i, cmpsOne, true);
H[0xa8] = (c, i) => { alu(c, 4, c.regs8[0], i.imm, 1); };
H[0xa9] = (c, i) => { alu(c, 4, c.getReg(EAX, i.osz), i.imm, i.osz); };
H[0xaa] = (c, i) => repFast(c, i, stosOne);
H[0xab] = (c, i) => repFast(c, i, stosOne);
H[0xac] = (c, i) => rep(c, i, lodsOne, false);
H[0xad] = (c, i) => rep(c, i, lodsOne, false);
H[0xae] = (c, i) => rep(c, i, scasOne, true);
H[0xaf] = (c, i) => rep(c, i, scasOne, true);
H[0xc0] = grp2(true, 0);
H[0xc1] = grp2(false, 0);
H[0xc2] = (c, i) => { // RET imm16
  const t = c.peek(0, i.osz);
  if (c.pmode && (t >>> 0) > c.segMax[CS]) c.gp(0);
  c.adjustSp(i.osz + i.imm);
  c.nextEip = i.osz === 4 ? t : t & 0xffff;
};
H[0xc3] = (c, i) => { // RET
  const t = c.peek(0, i.osz);
  if (c.pmode && (t >>> 0) > c.segMax[CS]) c.gp(0);
  c.adjustSp(i.osz);
  c.nextEip = i.osz === 4 ? t : t & 0xffff;
};
H[0xc4] = (c, i) => sys.loadFarPointer(c, i, ES);
H[0xc5] = (c, i) => sys.loadFarPointer(c, i, DS);
H[0xc6] = (c, i) => { if (i.reg !== 0) c.raise(UD, -1); writeRM(c, i, 1, i.imm); };
H[0xc7] = (c, i) => { if (i.reg !== 0) c.raise(UD, -1); writeRM(c, i, i.osz, i.imm); };
H[0xc8] = (c, i) => { // ENTER
  const size = i.osz;
  const level = i.imm2 & 31;
  const frame = i.imm;
  const bp0 = c.stack32 ? c.regs[EBP << 1] : c.regs16[EBP << 2];
  const sp0 = c.regs[ESP << 1];
  try {
    c.push(c.getReg(EBP, size), size);
    const frameTemp = c.stack32 ? c.regs[ESP << 1] : c.regs16[ESP << 2];
    let bp = bp0;
    for (let k = 1; k < level; k++) {
      bp = c.stack32 ? (bp - size) | 0 : (bp - size) & 0xffff;
      c.push(c.readMem(SS, bp, size), size);
    }
    if (level > 0) c.push(frameTemp, size);
    const sp = c.stack32 ? (c.regs[ESP << 1] - frame) | 0 : (c.regs16[ESP << 2] - frame) & 0xffff;
    c.probeWrite(SS, sp, 1);
    c.setReg(EBP, size, frameTemp);
    if (c.stack32) c.regs[ESP << 1] = sp;
    else c.regs16[ESP << 2] = sp;
  } catch (e) {
    c.regs[ESP << 1] = sp0;
    throw e;
  }
};
H[0xc9] = (c, i) => { // LEAVE
  const bp = c.stack32 ? c.regs[EBP << 1] : c.regs16[EBP << 2];
  const v = c.readMem(SS, bp, i.osz);
  if (c.stack32) c.regs[ESP << 1] = (bp + i.osz) | 0;
  else c.regs16[ESP << 2] = bp + i.osz;
  c.setReg(EBP, i.osz, v);
};
H[0xca] = (c, i) => sys.farRet(c, i, i.imm);
H[0xcb] = (c, i) => sys.farRet(c, i, 0);
H[0xcc] = (c) => sys.softInt(c, 3, true);
H[0xcd] = (c, i) => sys.softInt(c, i.imm, false);
H[0xce] = (c) => { if (c.getOF() !== 0) sys.softInt(c, OF, true); };
H[0xcf] = (c, i) => sys.iret(c, i);
H[0xd0] = grp2(true, 1);
H[0xd1] = grp2(false, 1);
H[0xd2] = grp2(true, 2);
H[0xd3] = grp2(false, 2);
H[0xd4] = aam;
H[0xd5] = aad;
H[0xd6] = (c) => { c.regs8[0] = c.getCF() ? 0xff : 0; }; // SALC (undocumented, present on i686)
H[0xd7] = (c, i) => { // XLAT
  const off = i.asz === 4 ? (c.regs[EBX << 1] + c.regs8[0]) | 0 : (c.regs16[EBX << 2] + c.regs8[0]) & 0xffff;
  c.regs8[0] = c.read8(i.seg, off);
};
for (let k = 0xd8; k <= 0xdf; k++) H[k] = (c, i) => sys.fpu(c, i);
H[0xe0] = (c, i) => loop(c, i, 0);
H[0xe1] = (c, i) => loop(c, i, 1);
H[0xe2] = (c, i) => loop(c, i, 2);
function loop(c: Cpu, i: Insn, kind: number): void {
  let n = getCount(c, i) - 1;
  if (i.asz === 2) n &= 0xffff;
  setCount(c, i, n);
  if (n === 0) return;
  if (kind === 0 && c.getZF() !== 0) return; // LOOPNE
  if (kind === 1 && c.getZF() === 0) return; // LOOPE
  rel(c, i, (i.imm << 24) >> 24);
}
H[0xe3] = (c, i) => { if (getCount(c, i) === 0) rel(c, i, (i.imm << 24) >> 24); };
H[0xe4] = (c, i) => sys.inPort(c, i.imm, 1);
H[0xe5] = (c, i) => sys.inPort(c, i.imm, i.osz);
H[0xe6] = (c, i) => sys.outPort(c, i.imm, 1, c.regs8[0]);
H[0xe7] = (c, i) => sys.outPort(c, i.imm, i.osz, c.getReg(EAX, i.osz));
H[0xe8] = (c, i) => { // CALL rel
  c.push(c.nextEip, i.osz);
  rel(c, i, i.imm);
};
H[0xe9] = (c, i) => rel(c, i, i.imm);
H[0xea] = (c, i) => sys.farJmp(c, i, i.imm2, i.imm);
H[0xeb] = (c, i) => rel(c, i, (i.imm << 24) >> 24);
H[0xec] = (c) => sys.inPort(c, c.regs16[EDX << 2], 1);
H[0xed] = (c, i) => sys.inPort(c, c.regs16[EDX << 2], i.osz);
H[0xee] = (c) => sys.outPort(c, c.regs16[EDX << 2], 1, c.regs8[0]);
H[0xef] = (c, i) => sys.outPort(c, c.regs16[EDX << 2], i.osz, c.getReg(EAX, i.osz));
H[0xf1] = (c) => sys.icebp(c);
H[0xf4] = (c) => sys.hlt(c);
H[0xf5] = (c) => c.setArith(c.getCF() ^ 1, F_CF);
H[0xf6] = grp3(true);
H[0xf7] = grp3(false);
H[0xf8] = (c) => c.setArith(0, F_CF);
H[0xf9] = (c) => c.setArith(F_CF, F_CF);
H[0xfa] = (c) => sys.cli(c);
H[0xfb] = (c) => sys.sti(c);
H[0xfc] = (c) => { c.st[I_FLAGS] &= ~F_DF; };
H[0xfd] = (c) => { c.st[I_FLAGS] |= F_DF; };
H[0xfe] = (c, i) => {
  if (i.reg > 1) c.raise(UD, -1);
  if (i.mod === 3) { c.setReg(i.rm, 1, incdec(c, c.getReg(i.rm, 1), 1, i.reg === 1)); return; }
  const off = ea(c, i);
  const v = c.read8(i.seg, off);
  c.probeWrite(i.seg, off, 1);
  c.write8(i.seg, off, incdec(c, v, 1, i.reg === 1));
};
H[0xff] = (c, i) => {
  const size = i.osz;
  switch (i.reg) {
    case 0: case 1: {
      if (i.mod === 3) { c.setReg(i.rm, size, incdec(c, c.getReg(i.rm, size), size, i.reg === 1)); return; }
      const off = ea(c, i);
      const v = c.readMem(i.seg, off, size);
      c.probeWrite(i.seg, off, size);
      c.writeMem(i.seg, off, size, incdec(c, v, size, i.reg === 1));
      return;
    }
    case 2: { // CALL r/m
      const t = readRM(c, i, size);
      if (c.pmode && ((size === 4 ? t : t & 0xffff) >>> 0) > c.segMax[CS]) c.gp(0);
      c.push(c.nextEip, size);
      c.nextEip = size === 4 ? t : t & 0xffff;
      return;
    }
    case 3: case 5: { // CALL/JMP m16:16/32
      if (i.mod === 3) c.raise(UD, -1);
      const off = ea(c, i);
      const o = c.readMem(i.seg, off, size);
      const sel = c.read16(i.seg, i.asz === 4 ? (off + size) | 0 : (off + size) & 0xffff);
      if (i.reg === 3) sys.farCall(c, i, sel, o);
      else sys.farJmp(c, i, sel, o);
      return;
    }
    case 4: { // JMP r/m
      const t = readRM(c, i, size);
      if (c.pmode && ((size === 4 ? t : t & 0xffff) >>> 0) > c.segMax[CS]) c.gp(0);
      c.nextEip = size === 4 ? t : t & 0xffff;
      return;
    }
    case 6: c.push(readRM(c, i, size), size); return;
    default: c.raise(UD, -1);
  }
};

// --- 0F map
H[0x100] = (c, i) => sys.grp6(c, i);
H[0x101] = (c, i) => sys.grp7(c, i);
H[0x102] = (c, i) => sys.larLsl(c, i, false);
H[0x103] = (c, i) => sys.larLsl(c, i, true);
H[0x106] = (c) => sys.clts(c);
H[0x108] = (c) => sys.requireCpl0(c);
H[0x109] = (c) => sys.requireCpl0(c);
H[0x10b] = ud;
H[0x10d] = (c, i) => { if (i.mod === 3) c.raise(UD, -1); }; // NOP r/m (prefetch hints)
for (let k = 0x118; k <= 0x11f; k++) H[k] = () => {}; // hint NOPs
H[0x120] = (c, i) => sys.movFromCr(c, i);
H[0x121] = (c, i) => sys.movFromDr(c, i);
H[0x122] = (c, i) => sys.movToCr(c, i);
H[0x123] = (c, i) => sys.movToDr(c, i);
H[0x130] = (c) => sys.wrmsr(c);
H[0x131] = (c) => sys.rdtsc(c);
H[0x132] = (c) => sys.rdmsr(c);
H[0x134] = (c) => sys.sysenter(c);
H[0x135] = (c) => sys.sysexit(c);
H[0x1a0] = (c, i) => c.push(c.segSel[FS], i.osz);
H[0x1a1] = (c, i) => sys.popSeg(c, i, FS);
H[0x1a2] = (c) => sys.cpuid(c);
H[0x1a3] = (c, i) => btOp(c, i, c.getReg(i.reg, i.osz), 0, false);
H[0x1a4] = (c, i) => shld(c, i, i.imm, false);
H[0x1a5] = (c, i) => shld(c, i, c.regs8[8], false);
H[0x1a8] = (c, i) => c.push(c.segSel[GS], i.osz);
H[0x1a9] = (c, i) => sys.popSeg(c, i, GS);
H[0x1ab] = (c, i) => btOp(c, i, c.getReg(i.reg, i.osz), 1, false);
H[0x1ac] = (c, i) => shld(c, i, i.imm, true);
H[0x1ad] = (c, i) => shld(c, i, c.regs8[8], true);
H[0x1af] = (c, i) => c.setReg(i.reg, i.osz, imul2(c, c.getReg(i.reg, i.osz), readRM(c, i, i.osz), i.osz));
H[0x1b0] = (c, i) => cmpxchg(c, i, 1);
H[0x1b1] = (c, i) => cmpxchg(c, i, i.osz);
function cmpxchg(c: Cpu, i: Insn, size: number): void {
  const off = i.mod === 3 ? 0 : ea(c, i);
  const dst = i.mod === 3 ? c.getReg(i.rm, size) : c.readMem(i.seg, off, size);
  if (i.mod !== 3) c.probeWrite(i.seg, off, size); // the processor always writes back
  const acc = c.getReg(EAX, size);
  alu(c, 7, acc, dst, size);
  if (c.getZF() !== 0) {
    if (i.mod === 3) c.setReg(i.rm, size, c.getReg(i.reg, size));
    else c.writeMem(i.seg, off, size, c.getReg(i.reg, size));
  } else {
    if (i.mod !== 3) c.writeMem(i.seg, off, size, dst); // the processor always writes back
    c.setReg(EAX, size, dst);
  }
}
H[0x1b2] = (c, i) => sys.loadFarPointer(c, i, SS);
H[0x1b3] = (c, i) => btOp(c, i, c.getReg(i.reg, i.osz), 2, false);
H[0x1b4] = (c, i) => sys.loadFarPointer(c, i, FS);
H[0x1b5] = (c, i) => sys.loadFarPointer(c, i, GS);
H[0x1b6] = (c, i) => c.setReg(i.reg, i.osz, readRM(c, i, 1));
H[0x1b7] = (c, i) => c.setReg(i.reg, i.osz, readRM(c, i, 2));
H[0x1ba] = (c, i) => {
  if (i.reg < 4) c.raise(UD, -1);
  btOp(c, i, i.imm, i.reg - 4, true);
};
H[0x1bb] = (c, i) => btOp(c, i, c.getReg(i.reg, i.osz), 3, false);
H[0x1bc] = bitScan(false);
H[0x1bd] = bitScan(true);
H[0x1be] = (c, i) => c.setReg(i.reg, i.osz, sext(readRM(c, i, 1), 1));
H[0x1bf] = (c, i) => c.setReg(i.reg, i.osz, sext(readRM(c, i, 2), 2));
H[0x1c0] = (c, i) => xadd(c, i, 1);
H[0x1c1] = (c, i) => xadd(c, i, i.osz);
function xadd(c: Cpu, i: Insn, size: number): void {
  const off = i.mod === 3 ? 0 : ea(c, i);
  const dst = i.mod === 3 ? c.getReg(i.rm, size) : c.readMem(i.seg, off, size);
  if (i.mod !== 3) c.probeWrite(i.seg, off, size);
  const src = c.getReg(i.reg, size);
  const r = alu(c, 0, dst, src, size);
  if (i.mod === 3) {
    c.setReg(i.reg, size, dst);
    c.setReg(i.rm, size, r);
  } else {
    c.writeMem(i.seg, off, size, r);
    c.setReg(i.reg, size, dst);
  }
}
H[0x1c7] = (c, i) => { // CMPXCHG8B
  if (i.reg !== 1 || i.mod === 3) c.raise(UD, -1);
  sys.requireFeature(c, CPUID_CX8);
  const off = ea(c, i);
  const off4 = i.asz === 4 ? (off + 4) | 0 : (off + 4) & 0xffff;
  const lo = c.read32(i.seg, off), hi = c.read32(i.seg, off4);
  if (lo === c.regs[EAX << 1] && hi === c.regs[EDX << 1]) {
    c.write32(i.seg, off, c.regs[EBX << 1]);
    c.write32(i.seg, off4, c.regs[ECX << 1]);
    c.setArith(F_ZF, F_ZF);
  } else {
    c.write32(i.seg, off, lo);
    c.write32(i.seg, off4, hi);
    c.regs[EAX << 1] = lo;
    c.regs[EDX << 1] = hi;
    c.setArith(0, F_ZF);
  }
};

// Opcodes that are invalid on an i686 (rather than unimplemented here).
for (const op of [0x104, 0x10a, 0x10c, 0x10e, 0x10f, 0x124, 0x125, 0x126, 0x127, 0x136, 0x137,
  0x1a6, 0x1a7, 0x1b8, 0x1b9, 0x1ff, 0x1b9]) H[op] = ud;
H[0x1ae] = (c, i) => x87Group0FAE(c, i);
H[0x1aa] = ud; // RSM outside system management mode (never entered here) is #UD
H[0x133] = (c) => sys.rdpmc(c);
// SYSCALL/SYSRET are #UD on an Intel CPU outside 64-bit mode; 0F 39 and 0F 3B–3F are reserved.
for (const op of [0x105, 0x107, 0x139, 0x13b, 0x13c, 0x13d, 0x13e, 0x13f]) H[op] = ud;

// ------------------------------------------------------------------------------------------------
// Specialised forms of the hottest handlers (32-bit operand size), chosen once at decode time:
// the same semantics as the general handlers without the run-time size and operand-kind dispatch.

const movRmReg32: Handler = (c, i) => { c.regs[i.rm << 1] = c.regs[i.reg << 1]; };
const movMemReg32: Handler = (c, i) => { c.write32(i.seg, ea(c, i), c.regs[i.reg << 1]); };
const movRegRm32: Handler = (c, i) => { c.regs[i.reg << 1] = c.regs[i.rm << 1]; };
const movRegMem32: Handler = (c, i) => { c.regs[i.reg << 1] = c.read32(i.seg, ea(c, i)); };
const leaAddr32: Handler = (c, i) => {
  let a = i.disp;
  if (i.base >= 0) a = (a + c.regs[i.base << 1]) | 0;
  if (i.index >= 0) a = (a + (c.regs[i.index << 1] << i.scale)) | 0;
  c.regs[i.reg << 1] = a;
};
const ALU_RR32: Handler[] = [];
const ALU_RI32: Handler[] = [];
for (let op = 0; op < 8; op++) {
  ALU_RR32.push((c, i) => {
    const r = alu(c, op, c.regs[i.rm << 1], c.regs[i.reg << 1], 4);
    if (op !== 7) c.regs[i.rm << 1] = r;
  });
  ALU_RI32.push((c, i) => {
    const r = alu(c, op, c.regs[i.rm << 1], i.op === 0x83 ? (i.imm << 24) >> 24 : i.imm, 4);
    if (op !== 7) c.regs[i.rm << 1] = r;
  });
}
const testRR32: Handler = (c, i) => { alu(c, 4, c.regs[i.rm << 1], c.regs[i.reg << 1], 4); };

// Stack and branch forms with a 32-bit operand size: the 32-bit stack (SS.B) inline, the generic
// path otherwise; conditional branches on ZF or CF without the general condition switch.
/** PUSH of a dword: on a 32-bit stack directly, else through the general path. */
function push32(c: Cpu, v: number): void {
  if (!c.stack32) {
    c.push(v, 4);
    return;
  }
  const sp = (c.regs[ESP << 1] - 4) | 0;
  c.write32(SS, sp, v);
  c.regs[ESP << 1] = sp;
}
const PUSH32: Handler[] = [], POP32: Handler[] = [];
for (let r = 0; r < 8; r++) {
  PUSH32.push((c) => push32(c, c.regs[r << 1]));
  POP32.push((c) => {
    if (!c.stack32) { c.regs[r << 1] = c.pop(4); return; }
    const sp = c.regs[ESP << 1];
    const v = c.read32(SS, sp);
    c.regs[ESP << 1] = (sp + 4) | 0;
    c.regs[r << 1] = v;
  });
}
const call32: Handler = (c, i) => {
  push32(c, c.nextEip);
  c.nextEip = (c.nextEip + i.imm) | 0;
};
const ret32: Handler = (c, i) => {
  if (!c.stack32) { H[0xc3](c, i); return; }
  const sp = c.regs[ESP << 1];
  const t = c.read32(SS, sp);
  if (c.pmode && (t >>> 0) > c.segMax[CS]) c.gp(0);
  c.regs[ESP << 1] = (sp + 4) | 0;
  c.nextEip = t;
};
/** The taken branch of a 32-bit Jcc rel8 / rel32. */
function jump8(c: Cpu, i: Insn): void { c.nextEip = (c.nextEip + ((i.imm << 24) >> 24)) | 0; }
function jump32(c: Cpu, i: Insn): void { c.nextEip = (c.nextEip + i.imm) | 0; }
const jb8: Handler = (c, i) => { if (c.getCF() !== 0) jump8(c, i); };
const jae8: Handler = (c, i) => { if (c.getCF() === 0) jump8(c, i); };
const jz8: Handler = (c, i) => { if (c.getZF() !== 0) jump8(c, i); };
const jnz8: Handler = (c, i) => { if (c.getZF() === 0) jump8(c, i); };
const jz32: Handler = (c, i) => { if (c.getZF() !== 0) jump32(c, i); };
const jnz32: Handler = (c, i) => { if (c.getZF() === 0) jump32(c, i); };

/** A specialised handler for `i`, or null to use the general one. */
export function specialize(i: Insn): Handler | null {
  if (i.osz !== 4 || i.asz !== 4) return null;
  const reg = i.mod === 3;
  const op = i.op;
  if (op >= 0x50 && op <= 0x57 && op !== 0x54) return PUSH32[op & 7];
  if (op >= 0x58 && op <= 0x5f && op !== 0x5c) return POP32[op & 7];
  switch (op) {
    case 0xe8: return call32;
    case 0xc3: return ret32;
    case 0x72: return jb8;
    case 0x73: return jae8;
    case 0x74: return jz8;
    case 0x75: return jnz8;
    case 0x184: return jz32;
    case 0x185: return jnz32;
    case 0x89: return reg ? movRmReg32 : movMemReg32;
    case 0x8b: return reg ? movRegRm32 : movRegMem32;
    case 0x8d: return reg ? null : leaAddr32;
    case 0x85: return reg ? testRR32 : null;
    case 0x81: case 0x83: return reg && i.reg !== 2 && i.reg !== 3 ? ALU_RI32[i.reg] : null;
    default:
      // 01 09 21 29 31 39: ALU r/m32, r32 in register form (ADC/SBB keep the general path).
      if (op < 0x40 && (op & 7) === 1 && reg && (op >> 3) !== 2 && (op >> 3) !== 3) return ALU_RR32[op >> 3];
      return null;
  }
}

/** Instructions that accept a LOCK prefix (with a memory destination). */
const LOCKABLE = new Uint8Array(0x200);
for (const op of [0x00, 0x01, 0x08, 0x09, 0x10, 0x11, 0x18, 0x19, 0x20, 0x21, 0x28, 0x29, 0x30, 0x31,
  0x80, 0x81, 0x82, 0x83, 0x86, 0x87, 0xf6, 0xf7, 0xfe, 0xff, 0x1ab, 0x1b3, 0x1bb, 0x1ba, 0x1b0, 0x1b1,
  0x1c0, 0x1c1, 0x1c7]) LOCKABLE[op] = 1;

/** #UD for a LOCK prefix on an instruction that does not take it. */
export function lockValid(i: Insn): boolean {
  if (LOCKABLE[i.op] === 0 || i.mod === 3 || i.modrm < 0) return false;
  switch (i.op) {
    case 0x80: case 0x81: case 0x82: case 0x83: return i.reg !== 7;
    case 0xf6: case 0xf7: return i.reg === 2 || i.reg === 3;
    case 0xfe: case 0xff: return i.reg < 2;
    case 0x1ba: return i.reg >= 5;
    case 0x1c7: return i.reg === 1;
    default: return true;
  }
}

export { ud };
