// Test harness for the CPU core: a real-mode machine that runs one SingleStepTests 80286 case at a
// time through the hv API (Vm + Vcpu + exits), and helpers to build flat 32-bit protected-mode
// vCPUs for the hand-written instruction tests.

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ExitReason } from '../../src/hv/exit.js';
import type { MsrEntry, Regs, Segment, Sregs } from '../../src/hv/types.js';
import { Vm } from '../../src/hv/vm.js';
import type { Vcpu } from '../../src/hv/vcpu.js';

// ------------------------------------------------------------------------------------------------
// The vector format (see ../shared/conformance/README.md)

export type RegName = 'ax' | 'bx' | 'cx' | 'dx' | 'cs' | 'ss' | 'ds' | 'es' | 'sp' | 'bp' | 'si' | 'di' | 'ip' | 'flags';
export const REG_NAMES: RegName[] = ['ax', 'bx', 'cx', 'dx', 'cs', 'ss', 'ds', 'es', 'sp', 'bp', 'si', 'di', 'ip', 'flags'];

export interface Case286 {
  name: string;
  bytes: number[];
  initial: { regs: Record<RegName, number>; ram: Array<[number, number]> };
  final: { regs: Partial<Record<RegName, number>>; ram: Array<[number, number]> };
  exception?: { number: number; flag_address: number };
  hash: string;
}

interface OpcodeMeta {
  status?: string;
  arch?: string;
  flags?: string;
  'flags-mask'?: number;
  reg?: Record<string, OpcodeMeta>;
}

export interface Metadata286 {
  opcodes: Record<string, OpcodeMeta>;
}

export function loadMetadata(dir: string): Metadata286 {
  return JSON.parse(fs.readFileSync(path.join(dir, 'metadata.json'), 'utf8')) as Metadata286;
}

export function loadCases(file: string): Case286[] {
  const text = zlib.gunzipSync(fs.readFileSync(file)).toString('utf8');
  const out: Case286[] = [];
  for (const line of text.split('\n')) if (line.length > 0) out.push(JSON.parse(line) as Case286);
  return out;
}

/** The metadata entry of an opcode file name such as "F6.6" or "00" (for an unsplit group: `reg`). */
export function metaFor(meta: Metadata286, key: string, reg: number): OpcodeMeta {
  const [op, r] = key.split('.');
  const m = meta.opcodes[op] ?? {};
  if (m.reg !== undefined) return m.reg[r ?? String(reg)] ?? {};
  return m;
}

const PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0xf0, 0xf1, 0xf2, 0xf3]);
const SEG_OVERRIDE: Record<number, number> = { 0x26: 0, 0x2e: 1, 0x36: 2, 0x3e: 3 };
export const SEG_ES = 0, SEG_CS = 1, SEG_SS = 2, SEG_DS = 3;

/** One-byte opcodes of the 286 that take a ModRM byte. */
const HAS_MODRM = new Set<number>([
  ...[0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38].flatMap((b) => [b, b + 1, b + 2, b + 3]),
  0x62, 0x63, 0x69, 0x6b, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b,
  0x8c, 0x8d, 0x8e, 0x8f, 0xc0, 0xc1, 0xc4, 0xc5, 0xc6, 0xc7, 0xd0, 0xd1, 0xd2, 0xd3,
  0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xf6, 0xf7, 0xfe, 0xff,
]);

/** A decoded 16-bit instruction, enough to reason about which access of it faulted. */
export interface Insn286 {
  prefixes: number[];
  lock: boolean;
  rep: boolean;
  /** Last segment-override prefix (0 ES, 1 CS, 2 SS, 3 DS) or -1. */
  segOvr: number;
  op: number;
  /** -1 when the opcode has no ModRM byte. */
  modrm: number;
  mod: number;
  reg: number;
  /** Memory operand: its offset and segment (after defaults and overrides), -1 for none. */
  ea: number;
  eaSeg: number;
}

/** Decode a case's instruction with its initial registers. */
export function decode286(bytes: number[], r: Record<RegName, number>): Insn286 {
  let k = 0, segOvr = -1;
  while (k < bytes.length && PREFIXES.has(bytes[k])) {
    if (bytes[k] in SEG_OVERRIDE) segOvr = SEG_OVERRIDE[bytes[k]];
    k++;
  }
  const prefixes = bytes.slice(0, k);
  const op = bytes[k];
  const out: Insn286 = {
    prefixes, lock: prefixes.includes(0xf0), rep: prefixes.includes(0xf2) || prefixes.includes(0xf3),
    segOvr, op, modrm: -1, mod: 0, reg: 0, ea: -1, eaSeg: -1,
  };
  if (!HAS_MODRM.has(op)) return out;
  const m = bytes[k + 1];
  out.modrm = m;
  out.mod = m >> 6;
  out.reg = (m >> 3) & 7;
  if (out.mod === 3) return out;
  const rm = m & 7;
  const d8 = (bytes[k + 2] << 24) >> 24;
  const d16 = bytes[k + 2] | (bytes[k + 3] << 8);
  let ea = out.mod === 1 ? d8 : out.mod === 2 ? d16 : 0;
  let ss = false;
  switch (rm) {
    case 0: ea += r.bx + r.si; break;
    case 1: ea += r.bx + r.di; break;
    case 2: ea += r.bp + r.si; ss = true; break;
    case 3: ea += r.bp + r.di; ss = true; break;
    case 4: ea += r.si; break;
    case 5: ea += r.di; break;
    case 6: if (out.mod === 0) ea = d16; else { ea += r.bp; ss = true; } break;
    default: ea += r.bx;
  }
  out.ea = ea & 0xffff;
  out.eaSeg = segOvr >= 0 ? segOvr : ss ? SEG_SS : SEG_DS;
  return out;
}

/** The parts of a case's instruction: prefixes, opcode byte, ModRM byte (-1 when none). */
export function splitInsn(bytes: number[]): { prefixes: number[]; op: number; modrm: number } {
  let k = 0;
  while (k < bytes.length && PREFIXES.has(bytes[k])) k++;
  return { prefixes: bytes.slice(0, k), op: bytes[k], modrm: k + 1 < bytes.length ? bytes[k + 1] : -1 };
}

// ------------------------------------------------------------------------------------------------
// Segments

export function realSeg(selector: number, code = false): Segment {
  return {
    selector, base: selector * 16, limit: 0xffff, type: code ? 0xb : 0x3, present: true, dpl: 0,
    db: false, s: true, g: false, avl: false, unusable: false,
  };
}

export function flatSeg(selector: number, code: boolean): Segment {
  return {
    selector, base: 0, limit: 0xffffffff, type: code ? 0xb : 0x3, present: true, dpl: 0,
    db: true, s: true, g: true, avl: false, unusable: false,
  };
}

// ------------------------------------------------------------------------------------------------
// The 286 runner

/** 16 MiB + 64 KiB: real-mode addresses reach 0x10FFEF with A20 on. */
export const RAM_286 = 0x1010000;

/** Expected differences of a 386+ from the 286 for one case. */
export interface Adjust {
  /** [vector the 286 raised, vector a 386+ raises]: the second's IVT entry is set to the first's. */
  vectorAlias: [number, number] | null;
  /** Final register values that replace the 286's. */
  regs: Partial<Record<RegName, number>>;
}

export const NO_ADJUST: Adjust = { vectorAlias: null, regs: {} };

export interface CaseResult {
  ok: boolean;
  /** Human-readable differences (empty when ok). */
  diffs: string[];
}

export class Runner286 {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  private readonly sregs: Sregs;
  private readonly one = new Uint8Array(1);
  private readonly zero = new Uint8Array(1);
  private readonly touched: number[] = [];

  constructor() {
    this.vm = new Vm(RAM_286);
    this.vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: RAM_286, hostOffset: 0, readonly: false });
    this.vm.setA20(true);
    this.vcpu = this.vm.createVcpu();
    this.sregs = this.vcpu.getSregs();
    this.sregs.idt = { base: 0, limit: 0x3ff };
  }

  private poke(addr: number, v: number): void {
    this.one[0] = v;
    this.vm.writePhys(addr, this.one);
  }

  /**
   * Run one case; `flagsMask` is the metadata's flags-mask for its opcode (0xFFFF if none).
   * `adjust` describes where a 386+ is expected to differ from the 286 that produced the case.
   */
  run(t: Case286, flagsMask: number, adjust: Adjust = NO_ADJUST): CaseResult {
    const vm = this.vm, vcpu = this.vcpu;
    const ini = t.initial.regs;
    const touched = this.touched;
    touched.length = 0;
    for (const [a, v] of t.initial.ram) {
      this.poke(a, v);
      touched.push(a);
    }
    if (adjust.vectorAlias !== null) {
      // The 386+ raises a different vector than the 286 did: make it lead to the same handler.
      const [from, to] = adjust.vectorAlias;
      for (let k = 0; k < 4; k++) {
        this.poke(to * 4 + k, vm.bytes[from * 4 + k]);
        touched.push(to * 4 + k);
      }
    }
    const s = this.sregs;
    s.cs = realSeg(ini.cs, true);
    s.ds = realSeg(ini.ds);
    s.es = realSeg(ini.es);
    s.ss = realSeg(ini.ss);
    s.fs = realSeg(0);
    s.gs = realSeg(0);
    vcpu.setSregs(s);
    // A 286 in real mode holds FLAGS bits 12-15 clear (PUSHF stores them so); start from that state.
    const regs: Regs = {
      eax: ini.ax, ebx: ini.bx, ecx: ini.cx, edx: ini.dx, esp: ini.sp, ebp: ini.bp, esi: ini.si, edi: ini.di,
      eip: ini.ip, eflags: ini.flags & 0x0fff,
    };
    vcpu.setRegs(regs);

    const diffs: string[] = [];
    let halted = false;
    for (let n = 0; n < 100_000 && !halted; n++) {
      const reason = vcpu.run(10_000);
      const x = vcpu.exit;
      switch (reason) {
        case ExitReason.Hlt: halted = true; break;
        case ExitReason.Io:
          // Nothing answers: reads see all ones.
          if (x.ioIn) for (let k = 0; k < x.ioCount; k++) x.ioData[k] = x.ioSize === 1 ? 0xff : x.ioSize === 2 ? 0xffff : 0xffffffff;
          break;
        case ExitReason.InternalError:
          diffs.push(`internal error at ${x.errCs.toString(16)}:${x.errEip.toString(16)}: ${x.errReason}`);
          n = Infinity;
          break;
        default:
          diffs.push(`unexpected exit ${reason}`);
          n = Infinity;
      }
    }
    if (!halted && diffs.length === 0) diffs.push('did not reach HLT');

    if (halted) {
      const r = vcpu.getRegs();
      const sr = vcpu.getSregs();
      const got: Record<RegName, number> = {
        ax: r.eax, bx: r.ebx, cx: r.ecx, dx: r.edx, sp: r.esp, bp: r.ebp, si: r.esi, di: r.edi, ip: r.eip,
        flags: r.eflags, cs: sr.cs.selector, ss: sr.ss.selector, ds: sr.ds.selector, es: sr.es.selector,
      };
      const fm = flagsMask & 0x0fff;
      for (const name of REG_NAMES) {
        const want = adjust.regs[name] ?? t.final.regs[name] ?? ini[name];
        const have = got[name];
        if (name === 'flags') {
          if ((want & fm) !== (have & fm)) diffs.push(`flags: want ${hex(want & fm)} got ${hex(have & fm)} (diff ${hex((want ^ have) & fm)})`);
        } else if (want !== have) {
          diffs.push(`${name}: want ${hex(want)} got ${hex(have)}`);
        }
      }
      // The FLAGS word an interrupt pushed is the first push, at SS:SP-2. (The vectors' own
      // flag_address is one byte low when SP is odd, so it is recomputed here.)
      const fa = t.exception ? ini.ss * 16 + ((ini.sp - 2) & 0xffff) : -1;
      const fa1 = t.exception ? ini.ss * 16 + ((ini.sp - 1) & 0xffff) : -1;
      const expected = new Map<number, number>();
      for (const [a, v] of t.initial.ram) expected.set(a, v);
      for (const [a, v] of t.final.ram) {
        expected.set(a, v);
        touched.push(a);
      }
      for (const [a, v] of expected) {
        let want = v, have = vm.bytes[a];
        if (a === fa) { want &= fm & 0xff; have &= fm & 0xff; }
        if (a === fa1) { want &= fm >> 8; have &= fm >> 8; }
        if (want !== have) diffs.push(`ram[${hex(a)}]: want ${hex(want)} got ${hex(have)}`);
      }
    }

    if (diffs.length === 0) {
      for (const a of touched) this.vm.writePhys(a, this.zero);
    } else {
      // A failing case may have written anywhere: start the next one from clean memory.
      vm.bytes.fill(0);
      vcpu.reset();
    }
    return { ok: diffs.length === 0, diffs };
  }
}

export function hex(v: number): string {
  return (v >>> 0).toString(16);
}

// ------------------------------------------------------------------------------------------------
// A flat 32-bit protected-mode machine for hand-written instruction tests

/** Memory layout of Flat32. */
export const F32 = {
  GDT: 0x500,
  IDT: 0x800,
  /** Exception handler for vector v: a HLT at HANDLERS + v. */
  HANDLERS: 0x2000,
  CODE: 0x10000,
  DATA: 0x20000,
  STACK_TOP: 0x80000,
  RAM: 0x100000,
} as const;

export interface Run32Result {
  regs: Regs;
  /** EFLAGS after the run. */
  flags: number;
  /** The exception vector taken (its handler's HLT stopped the run), or -1. */
  vector: number;
  /** Error code pushed with the exception (-1 when none was expected), and the faulting EIP. */
  errorCode: number;
  faultEip: number;
  exitReason: number;
}

const VECTORS_WITH_ERROR = new Set([8, 10, 11, 12, 13, 14, 17]);

export class Flat32 {
  readonly vm: Vm;
  readonly vcpu: Vcpu;

  constructor() {
    this.vm = new Vm(F32.RAM);
    this.vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: F32.RAM, hostOffset: 0, readonly: false });
    this.vcpu = this.vm.createVcpu();
  }

  write(addr: number, bytes: ArrayLike<number>): void {
    this.vm.writePhys(addr, Uint8Array.from(bytes as ArrayLike<number>));
  }

  write32(addr: number, v: number): void {
    this.write(addr, [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
  }

  read8(addr: number): number {
    return this.vm.readPhys(addr, 1)[0];
  }

  read32(addr: number): number {
    const b = this.vm.readPhys(addr, 4);
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }

  /** Reset memory and state: GDT (null, code 0x08, data 0x10), IDT with a HLT handler per vector. */
  private prepare(): void {
    this.vm.bytes.fill(0);
    this.vcpu.reset();
    // Flat 4 GiB code (type 0xB, D=1, G=1) and data (type 3) descriptors.
    this.write(F32.GDT, [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0, 0xff, 0xff, 0, 0, 0, 0x93, 0xcf, 0]);
    for (let v = 0; v < 32; v++) {
      const h = F32.HANDLERS + v;
      // 32-bit interrupt gate, selector 0x08, DPL 0, present.
      this.write(F32.IDT + v * 8, [h & 0xff, (h >> 8) & 0xff, 0x08, 0x00, 0x00, 0x8e, (h >> 16) & 0xff, (h >> 24) & 0xff]);
      this.write(h, [0xf4]);
    }
  }

  /**
   * Run `code` (followed by a HLT) at F32.CODE in flat 32-bit protected mode, CPL 0.
   * `regs` are the initial general registers (ESP defaults to STACK_TOP), `flags` EFLAGS,
   * `mem` extra [address, bytes] to load first, `msrs` MSRs to set after the reset. IN from any
   * port reads all ones.
   */
  run(code: number[], regs: Partial<Regs> = {}, flags = 0x2, mem: Array<[number, number[]]> = [], msrs: MsrEntry[] = []): Run32Result {
    this.prepare();
    for (const [a, b] of mem) this.write(a, b);
    this.write(F32.CODE, [...code, 0xf4]);
    const s = this.vcpu.getSregs();
    s.cs = flatSeg(0x08, true);
    s.ds = s.es = s.ss = s.fs = s.gs = flatSeg(0x10, false);
    s.gdt = { base: F32.GDT, limit: 23 };
    s.idt = { base: F32.IDT, limit: 32 * 8 - 1 };
    s.cr0 = 0x11; // PE | ET
    this.vcpu.setSregs(s);
    this.vcpu.setRegs({
      eax: 0, ebx: 0, ecx: 0, edx: 0, esi: 0, edi: 0, ebp: 0, esp: F32.STACK_TOP, eip: F32.CODE, eflags: flags,
      ...regs,
    });
    if (msrs.length > 0) this.vcpu.setMsrs(msrs);
    let reason = 0;
    for (let n = 0; n < 1000; n++) {
      reason = this.vcpu.run(1_000_000);
      if (reason !== ExitReason.Io) break;
      const x = this.vcpu.exit;
      if (x.ioIn) for (let k = 0; k < x.ioCount; k++) x.ioData[k] = 0xffffffff >>> (32 - 8 * x.ioSize);
    }
    const r = this.vcpu.getRegs();
    let vector = -1, errorCode = -1, faultEip = -1;
    const off = r.eip - 1 - F32.HANDLERS;
    if (reason === ExitReason.Hlt && off >= 0 && off < 32) {
      vector = off;
      let sp = r.esp;
      if (VECTORS_WITH_ERROR.has(vector)) { errorCode = this.read32(sp); sp += 4; }
      faultEip = this.read32(sp);
    }
    return { regs: r, flags: r.eflags, vector, errorCode, faultEip, exitReason: reason };
  }
}
