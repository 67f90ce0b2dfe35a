// Test machine for the x87 tests: a vCPU in flat 32-bit protected mode (GDT, an IDT whose
// handlers record the vector and halt), driven through the hv API. Programs are raw bytes at
// CODE; a helper appends FNSAVE to a dump area and HLT, and the dump is parsed back.

import { ExitReason } from '../../src/hv/exit.js';
import type { Segment } from '../../src/hv/types.js';
import type { Vcpu } from '../../src/hv/vcpu.js';
import { Vm } from '../../src/hv/vm.js';

export const RAM = 4 << 20;
export const GDT = 0x500;
export const IDT = 0x800;
/** Exception handlers: vector v at HANDLERS + 16·v: mov byte [VEC], v ; hlt. */
export const HANDLERS = 0x1000;
/** The vector of the last exception handled (0xFF: none). */
export const VEC = 0x6f0;
/** Where the #MF handler stores the FPU environment. */
export const MF_ENV = 0x6a0;
export const CODE = 0x10000;
export const DATA = 0x20000;
export const DUMP = 0x30000;
export const STACK = 0x80000;

export const CR0_PE = 0x1, CR0_MP = 0x2, CR0_EM = 0x4, CR0_TS = 0x8, CR0_ET = 0x10, CR0_NE = 0x20;

function flat(sel: number, code: boolean): Segment {
  return {
    selector: sel, base: 0, limit: 0xffffffff, type: code ? 0xb : 0x3, present: true, dpl: 0,
    db: true, s: true, g: true, avl: false, unusable: false,
  };
}

export function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

export function le16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}

/** An 80-bit value as its 10 memory bytes. */
export function x80(se: number, sig: bigint): number[] {
  const out: number[] = [];
  for (let k = 0; k < 8; k++) out.push(Number((sig >> BigInt(8 * k)) & 0xffn));
  out.push(se & 0xff, (se >> 8) & 0xff);
  return out;
}

/** The exact 80-bit form of a finite double (or ±Infinity / NaN). */
export function ext(d: number): number[] {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, d, true);
  const hi = b.getUint32(4, true), lo = b.getUint32(0, true);
  const sign = hi >>> 31;
  const e = (hi >>> 20) & 0x7ff;
  let frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (e === 0x7ff) return x80((sign << 15) | 0x7fff, (1n << 63n) | (frac << 11n));
  if (e === 0) {
    if (frac === 0n) return x80(sign << 15, 0n);
    let ex = -1022 - 52;
    let n = 0;
    while ((frac >> BigInt(n)) > 1n) n++;
    frac <<= BigInt(63 - n);
    ex += n;
    return x80((sign << 15) | (ex + 16383), frac);
  }
  return x80((sign << 15) | (e - 1023 + 16383), (1n << 63n) | (frac << 11n));
}

export function f32bytes(v: number): number[] {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, v, true);
  return [0, 1, 2, 3].map((k) => b.getUint8(k));
}

export function f64bytes(v: number): number[] {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, v, true);
  return [0, 1, 2, 3, 4, 5, 6, 7].map((k) => b.getUint8(k));
}

/** An 80-bit register value read back. */
export interface Ext {
  se: number;
  sig: bigint;
}

export function extToNumber(v: Ext): number {
  const e = v.se & 0x7fff;
  const s = (v.se & 0x8000) !== 0 ? -1 : 1;
  if (e === 0x7fff) return (v.sig & ((1n << 63n) - 1n)) === 0n ? s * Infinity : NaN;
  const ex = (e === 0 ? 1 : e) - 16383 - 63;
  // Two steps keep the scaling exact for the ranges the tests use.
  return s * Number(v.sig) * 2 ** Math.max(ex, -1000) * 2 ** Math.min(0, ex + 1000) ;
}

export function extHex(v: Ext): string {
  return `${v.se.toString(16).padStart(4, '0')}:${v.sig.toString(16).padStart(16, '0')}`;
}

/** The state an FNSAVE (32-bit protected-mode layout) wrote. */
export interface SaveImage {
  cw: number;
  sw: number;
  tw: number;
  fip: number;
  fcs: number;
  fop: number;
  fdp: number;
  fds: number;
  top: number;
  /** ST(0)..ST(7) in stack order. */
  st: Ext[];
  /** ST(i) is tagged empty. */
  empty: boolean[];
}

export function parseSave(b: Uint8Array, base = 0): SaveImage {
  const dv = new DataView(b.buffer, b.byteOffset + base);
  const sw = dv.getUint16(4, true);
  const tw = dv.getUint16(8, true);
  const top = (sw >> 11) & 7;
  const st: Ext[] = [];
  const empty: boolean[] = [];
  for (let k = 0; k < 8; k++) {
    const o = 28 + k * 10;
    st.push({ se: dv.getUint16(o + 8, true), sig: dv.getBigUint64(o, true) });
    empty.push(((tw >> (((top + k) & 7) * 2)) & 3) === 3);
  }
  const csop = dv.getUint32(16, true);
  return {
    cw: dv.getUint16(0, true), sw, tw, fip: dv.getUint32(12, true), fcs: csop & 0xffff, fop: (csop >>> 16) & 0x7ff,
    fdp: dv.getUint32(20, true), fds: dv.getUint16(24, true), top, st, empty,
  };
}

export interface RunResult {
  exit: number;
  /** Vector of an exception that reached the IDT, or -1. */
  vector: number;
  eax: number;
  eflags: number;
  eip: number;
  esp: number;
  errReason: string;
  /** The FNSAVE dump taken at the end (only when the program reached it). */
  save: SaveImage;
}

/** One VM for many programs: each run() rewrites code and data and resets the registers. */
export class FpuMachine {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  private dataTop = DATA;

  constructor() {
    this.vm = new Vm(RAM);
    this.vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: RAM, hostOffset: 0, readonly: false });
    this.vcpu = this.vm.createVcpu();
    // GDT: null, flat code 0x08, flat data 0x10.
    const gdt = [
      0, 0, 0, 0, 0, 0, 0, 0,
      0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0,
      0xff, 0xff, 0, 0, 0, 0x93, 0xcf, 0,
    ];
    this.vm.writePhys(GDT, new Uint8Array(gdt));
    const idt: number[] = [];
    for (let v = 0; v < 32; v++) {
      const h = HANDLERS + v * 16;
      idt.push(h & 0xff, (h >> 8) & 0xff, 0x08, 0, 0, 0x8e, (h >> 16) & 0xff, (h >> 24) & 0xff);
      // #MF's handler also saves the environment (FNSTENV, non-waiting) to MF_ENV.
      const env = v === 16 ? [0xd9, 0x35, ...le32(MF_ENV)] : [];
      this.vm.writePhys(h, new Uint8Array([0xc6, 0x05, ...le32(VEC), v, ...env, 0xf4]));
    }
    this.vm.writePhys(IDT, new Uint8Array(idt));
  }

  /** Place bytes in the data area; returns their address. */
  data(bytes: number[], align = 16): number {
    this.dataTop = (this.dataTop + align - 1) & ~(align - 1);
    const a = this.dataTop;
    this.vm.writePhys(a, new Uint8Array(bytes));
    this.dataTop += bytes.length;
    return a;
  }

  read(addr: number, n: number): Uint8Array {
    return this.vm.readPhys(addr, n);
  }

  /**
   * Run `code` (FNSAVE [DUMP] and HLT are appended unless `raw`) with the given CR0 (PE|ET|NE by
   * default) and EFLAGS.
   */
  run(code: number[], opts: { cr0?: number; eflags?: number; raw?: boolean; budget?: number; eax?: number } = {}): RunResult {
    const prog = opts.raw ? code : [...code, 0xdd, 0x35, ...le32(DUMP), 0xf4];
    this.vm.writePhys(CODE, new Uint8Array(prog));
    this.vm.writePhys(VEC, new Uint8Array([0xff]));
    this.vm.writePhys(DUMP, new Uint8Array(108));
    this.vcpu.reset();
    const s = this.vcpu.getSregs();
    s.cr0 = opts.cr0 ?? (CR0_PE | CR0_ET | CR0_NE);
    s.cs = flat(8, true);
    s.ds = s.es = s.ss = s.fs = s.gs = flat(0x10, false);
    s.gdt = { base: GDT, limit: 23 };
    s.idt = { base: IDT, limit: 32 * 8 - 1 };
    this.vcpu.setSregs(s);
    this.vcpu.setRegs({ ...this.vcpu.getRegs(), eax: opts.eax ?? 0, eip: CODE, esp: STACK, eflags: opts.eflags ?? 2 });
    const exit = this.vcpu.run(opts.budget ?? 1_000_000);
    const r = this.vcpu.getRegs();
    const vec = this.read(VEC, 1)[0];
    return {
      exit, vector: vec === 0xff ? -1 : vec, eax: r.eax, eflags: r.eflags, eip: r.eip, esp: r.esp,
      errReason: exit === ExitReason.InternalError ? this.vcpu.exit.errReason : '',
      save: parseSave(this.read(DUMP, 108)),
    };
  }

  /**
   * Run 16-bit real-mode code at 1000:0000 (DS = ES = SS = 0, SP = 0x7000) until HLT; no dump is
   * appended.
   */
  runReal(code: number[]): RunResult {
    this.vm.writePhys(CODE, new Uint8Array(code));
    this.vcpu.reset();
    const s = this.vcpu.getSregs();
    const seg = (sel: number, codeSeg: boolean): Segment => ({
      selector: sel, base: sel << 4, limit: 0xffff, type: codeSeg ? 0xb : 0x3, present: true, dpl: 0,
      db: false, s: true, g: false, avl: false, unusable: false,
    });
    s.cr0 = CR0_ET | CR0_NE;
    s.cs = seg(CODE >> 4, true);
    s.ds = s.es = s.ss = s.fs = s.gs = seg(0, false);
    s.idt = { base: 0, limit: 0x3ff };
    this.vcpu.setSregs(s);
    this.vcpu.setRegs({ ...this.vcpu.getRegs(), eip: 0, esp: 0x7000, eflags: 2 });
    const exit = this.vcpu.run(100_000);
    const r = this.vcpu.getRegs();
    return {
      exit, vector: -1, eax: r.eax, eflags: r.eflags, eip: r.eip, esp: r.esp,
      errReason: exit === ExitReason.InternalError ? this.vcpu.exit.errReason : '',
      save: parseSave(new Uint8Array(108)),
    };
  }

  resetData(): void {
    this.dataTop = DATA;
  }
}

// --- instruction encoders (32-bit addressing with an absolute disp32: ModRM mod=00 rm=101)

function mem(op: number, reg: number, addr: number): number[] {
  return [op, (reg << 3) | 5, ...le32(addr)];
}

export const I = {
  fninit: [0xdb, 0xe3],
  fnclex: [0xdb, 0xe2],
  fwait: [0x9b],
  fnstswAx: [0xdf, 0xe0],
  fld1: [0xd9, 0xe8],
  fldz: [0xd9, 0xee],
  fldpi: [0xd9, 0xeb],
  fld32: (a: number) => mem(0xd9, 0, a),
  fst32: (a: number) => mem(0xd9, 2, a),
  fstp32: (a: number) => mem(0xd9, 3, a),
  fld64: (a: number) => mem(0xdd, 0, a),
  fst64: (a: number) => mem(0xdd, 2, a),
  fstp64: (a: number) => mem(0xdd, 3, a),
  fld80: (a: number) => mem(0xdb, 5, a),
  fstp80: (a: number) => mem(0xdb, 7, a),
  fild16: (a: number) => mem(0xdf, 0, a),
  fild32: (a: number) => mem(0xdb, 0, a),
  fild64: (a: number) => mem(0xdf, 5, a),
  fist16: (a: number) => mem(0xdf, 2, a),
  fistp16: (a: number) => mem(0xdf, 3, a),
  fist32: (a: number) => mem(0xdb, 2, a),
  fistp32: (a: number) => mem(0xdb, 3, a),
  fistp64: (a: number) => mem(0xdf, 7, a),
  fbld: (a: number) => mem(0xdf, 4, a),
  fbstp: (a: number) => mem(0xdf, 6, a),
  fldcw: (a: number) => mem(0xd9, 5, a),
  fnstcw: (a: number) => mem(0xd9, 7, a),
  fnstsw: (a: number) => mem(0xdd, 7, a),
  fnstenv: (a: number) => mem(0xd9, 6, a),
  fldenv: (a: number) => mem(0xd9, 4, a),
  fnsave: (a: number) => mem(0xdd, 6, a),
  frstor: (a: number) => mem(0xdd, 4, a),
  fxsave: (a: number) => [0x0f, 0xae, 0x05, ...le32(a)],
  fxrstor: (a: number) => [0x0f, 0xae, 0x0d, ...le32(a)],
  /** Arithmetic with a memory operand: esc D8 (m32fp), DA (m32int), DC (m64fp), DE (m16int). */
  arithMem: (esc: number, op: number, a: number) => mem(esc, op, a),
  /** D8/DC/DE register forms: esc, reg field (0 add … 7 divr), i. */
  arithReg: (esc: number, op: number, i: number) => [esc, 0xc0 | (op << 3) | i],
  hlt: [0xf4],
  movEaxImm: (v: number) => [0xb8, ...le32(v)],
  /** mov [addr], eax */
  storeEax: (a: number) => [0xa3, ...le32(a)],
  /** pushfd ; pop eax */
  flagsToEax: [0x9c, 0x58],
};

/** Encode CW for precision control pc (0 = 24, 2 = 53, 3 = 64) and rounding control rc, all masked. */
export function cwOf(pc: number, rc: number, masks = 0x3f): number {
  return 0x40 | masks | (pc << 8) | (rc << 10);
}

// --- fixture runner: the loop of tools/gen-fpu-fixtures.c in the guest

export const FIX_IN = 0x100000, FIX_OUT = 0x200000;

export function hexBytes(s: string): number[] {
  const out: number[] = [];
  for (let k = 0; k < s.length; k += 2) out.push(parseInt(s.slice(k, k + 2), 16));
  return out;
}

/**
 * For each 22-byte input record (cw, a, b):
 *   fninit ; fldcw [esi] ; fld tword [esi+12] ; fld tword [esi+2] ; OP ;
 *   fnstsw [edi+10] ; fstp tword [edi] ; fstp tword [edi+12] ; fninit
 * with 32-byte output records (memory forms of OP address [edi+22]).
 */
export function fixtureProgram(op: number[], count: number): number[] {
  const body = [
    0xdb, 0xe3, 0xd9, 0x2e, 0xdb, 0x6e, 0x0c, 0xdb, 0x6e, 0x02,
    ...op,
    0xdd, 0x7f, 0x0a, 0xdb, 0x3f, 0xdb, 0x7f, 0x0c, 0xdb, 0xe3,
    0x83, 0xc6, 0x16, // add esi, 22
    0x83, 0xc7, 0x20, // add edi, 32
    0x49, // dec ecx
  ];
  const back = -(body.length + 2);
  return [
    0xbe, ...le32(FIX_IN), 0xbf, ...le32(FIX_OUT), 0xb9, ...le32(count),
    ...body, 0x75, back & 0xff, // jnz
    0xf4,
  ];
}

/** Run one fixture operation over its cases; returns the run and the output records. */
export function runFixtureOp(m: FpuMachine, opHex: string, cases: Array<[string, string]>): { r: RunResult; out: number[]; length: number } {
  const input: number[] = [];
  for (const [inp] of cases) input.push(...hexBytes(inp));
  m.vm.writePhys(FIX_IN, new Uint8Array(input));
  m.vm.writePhys(FIX_OUT, new Uint8Array(cases.length * 32));
  const prog = fixtureProgram(hexBytes(opHex), cases.length);
  const r = m.run(prog, { raw: true, budget: 10_000_000 });
  return { r, out: [...m.read(FIX_OUT, cases.length * 32)], length: prog.length };
}
