// Helpers for tests that drive a vCPU in protected mode: descriptor and gate encodings, a GDT/IDT
// (and optionally identity paging) written into guest memory, and an independent reference for
// the arithmetic flags of ADD/SUB/logic/INC/DEC. Only types are imported from src, so a test can
// still set VMRUN_* environment variables before it loads the core.
import type { Segment, Sregs } from '../../src/hv/types.js';
import type { Vcpu } from '../../src/hv/vcpu.js';
import type { Vm } from '../../src/hv/vm.js';

// EFLAGS bits.
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;

/**
 * A VM (of the class given, so the caller decides when the core is loaded) with `ram` bytes at 0,
 * `code` at 0x7C00, and the vCPU in real mode at 0000:7C00 with SP 0x7000.
 */
export function realModeVm(VmClass: typeof Vm, code: number[], ram = 1 << 20): { vm: Vm; vcpu: Vcpu } {
  const vm = new VmClass(ram);
  vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: ram, hostOffset: 0, readonly: false });
  vm.writePhys(0x7c00, new Uint8Array(code));
  const vcpu = vm.createVcpu();
  const s = vcpu.getSregs();
  s.cs = { ...s.cs, selector: 0, base: 0 };
  vcpu.setSregs(s);
  vcpu.setRegs({ ...vcpu.getRegs(), eip: 0x7c00, esp: 0x7000 });
  return { vm, vcpu };
}

/**
 * A VM (of the class given) with `ram` bytes at 0, `code` at 0x1000, and the vCPU in flat 32-bit
 * protected mode at CPL 0 (CS 0x08, data 0x10, no paging) at EIP 0x1000 with ESP 0x8000.
 */
export function flatProtectedVm(VmClass: typeof Vm, code: number[], ram = 1 << 20): { vm: Vm; vcpu: Vcpu } {
  const vm = new VmClass(ram);
  vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: ram, hostOffset: 0, readonly: false });
  vm.writePhys(0x1000, new Uint8Array(code));
  const vcpu = vm.createVcpu();
  const s = vcpu.getSregs();
  s.cr0 = 0x11;
  s.cs = segCache(SEL_CODE, 0, 0xb);
  s.ds = s.es = s.ss = s.fs = s.gs = segCache(SEL_DATA, 0, 3);
  vcpu.setSregs(s);
  vcpu.setRegs({ ...vcpu.getRegs(), eip: 0x1000, esp: 0x8000, eflags: 2 });
  return { vm, vcpu };
}

// Where the system structures live (inside the first MiB).
export const GDT_BASE = 0x20000;
export const IDT_BASE = 0x21000;
export const PD_BASE = 0x22000;
export const PT_BASE = 0x23000;

/** Selectors of the GDT built by setupProtected. */
export const SEL_CODE = 0x08, SEL_DATA = 0x10, SEL_DATA_10000 = 0x18;
/** Base of the data segment SEL_DATA_10000 (4 GiB limit, so not flat only because of its base). */
export const NONFLAT_BASE = 0x10000;

/** An 8-byte segment descriptor (limit in bytes; G is used when it does not fit 20 bits). */
export function segDescriptor(base: number, limit: number, type: number, s = true, dpl = 0, db = true): number[] {
  const g = limit > 0xfffff;
  const lim = g ? limit >>> 12 : limit;
  const lo = ((lim & 0xffff) | ((base & 0xffff) << 16)) >>> 0;
  const hi = (((base >>> 16) & 0xff) | (type << 8) | ((s ? 1 : 0) << 12) | (dpl << 13) | (1 << 15) |
    (lim & 0xf0000) | ((db ? 1 : 0) << 22) | ((g ? 1 : 0) << 23) | (base & 0xff000000)) >>> 0;
  return [...le32(lo), ...le32(hi)];
}

/** An 8-byte 32-bit interrupt gate (DPL 0, present). */
export function interruptGate(offset: number, selector: number): number[] {
  const lo = ((offset & 0xffff) | (selector << 16)) >>> 0;
  const hi = ((offset & 0xffff0000) | 0x8e00) >>> 0;
  return [...le32(lo), ...le32(hi)];
}

export function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

export function rd32(vm: Vm, addr: number): number {
  const b = vm.readPhys(addr, 4);
  return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
}

export function wr32(vm: Vm, addr: number, v: number): void {
  vm.writePhys(addr, new Uint8Array(le32(v)));
}

/** The hidden part of a segment register as setSregs wants it, matching the GDT's descriptor. */
export function segCache(selector: number, base: number, type: number): Segment {
  return { selector, base, limit: 0xffffffff, type, present: true, dpl: 0, db: true, s: true, g: true, avl: false, unusable: false };
}

export interface ProtectedOptions {
  /** Interrupt gates to install: vector → handler offset (CS = SEL_CODE). */
  gates?: Record<number, number>;
  /** Identity-map the first MiB with 4 KiB pages; `pte` may change the entry of a page. */
  paging?: { pte?: Record<number, number>; wp?: boolean };
}

/**
 * Write a GDT (null, flat code 0x08, flat data 0x10, data with base 0x10000 at 0x18) and an IDT
 * with the requested gates, optionally page tables, and load the matching system registers.
 * The caller has already put the vCPU in flat 32-bit protected mode (CS 0x08, data 0x10).
 */
export function setupProtected(vm: Vm, vcpu: Vcpu, opts: ProtectedOptions = {}): void {
  const gdt = [
    ...[0, 0, 0, 0, 0, 0, 0, 0],
    ...segDescriptor(0, 0xffffffff, 0xb),
    ...segDescriptor(0, 0xffffffff, 0x3),
    ...segDescriptor(NONFLAT_BASE, 0xffffffff, 0x3),
  ];
  vm.writePhys(GDT_BASE, new Uint8Array(gdt));
  const idt = new Uint8Array(256 * 8);
  for (const [v, off] of Object.entries(opts.gates ?? {})) idt.set(interruptGate(off, SEL_CODE), Number(v) * 8);
  vm.writePhys(IDT_BASE, idt);
  const s: Sregs = vcpu.getSregs();
  s.gdt = { base: GDT_BASE, limit: gdt.length - 1 };
  s.idt = { base: IDT_BASE, limit: idt.length - 1 };
  if (opts.paging) {
    const pd = new Uint8Array(4096);
    pd.set(le32(PT_BASE | 3), 0);
    vm.writePhys(PD_BASE, pd);
    const pt = new Uint8Array(4096);
    for (let p = 0; p < 256; p++) pt.set(le32(opts.paging.pte?.[p] ?? ((p << 12) | 3)), p * 4);
    vm.writePhys(PT_BASE, pt);
    s.cr3 = PD_BASE;
    s.cr0 = (s.cr0 | 0x80000001 | (opts.paging.wp ? 0x10000 : 0)) >>> 0;
  }
  vcpu.setSregs(s);
}

// ---------------------------------------------------------------------------------------------
// Reference arithmetic flags (computed here from the definitions, not by the core).

/** Flags and which of them are architecturally defined after the operation. */
export interface FlagResult {
  flags: number;
  defined: number;
}

function maskOf(size: number): number {
  return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
}

function szp(r: number, size: number): number {
  let f = 0;
  if (r === 0) f |= ZF;
  if (r >= (maskOf(size) + 1) / 2) f |= SF;
  let p = r & 0xff;
  p ^= p >> 4; p ^= p >> 2; p ^= p >> 1;
  if ((p & 1) === 0) f |= PF;
  return f;
}

export function addFlags(a: number, b: number, size = 4): FlagResult {
  const m = maskOf(size), half = (m + 1) / 2;
  const ua = (a >>> 0) % (m + 1), ub = (b >>> 0) % (m + 1);
  const sum = ua + ub;
  const r = sum % (m + 1);
  let f = szp(r, size);
  if (sum > m) f |= CF;
  if ((((ua ^ ub) ^ r) & 0x10) !== 0) f |= AF;
  const sa = ua >= half, sb = ub >= half, sr = r >= half;
  if (sa === sb && sr !== sa) f |= OF;
  return { flags: f, defined: ARITH };
}

export function subFlags(a: number, b: number, size = 4): FlagResult {
  const m = maskOf(size), half = (m + 1) / 2;
  const ua = (a >>> 0) % (m + 1), ub = (b >>> 0) % (m + 1);
  const r = (ua - ub + m + 1) % (m + 1);
  let f = szp(r, size);
  if (ua < ub) f |= CF;
  if ((((ua ^ ub) ^ r) & 0x10) !== 0) f |= AF;
  const sa = ua >= half, sb = ub >= half, sr = r >= half;
  if (sa !== sb && sr !== sa) f |= OF;
  return { flags: f, defined: ARITH };
}

/** AND/OR/XOR/TEST: CF = OF = 0, SF/ZF/PF from the result, AF undefined. */
export function logicFlags(r: number, size = 4): FlagResult {
  return { flags: szp((r >>> 0) % (maskOf(size) + 1), size), defined: ARITH & ~AF };
}

/** INC: as ADD 1 with CF kept. */
export function incFlags(a: number, oldFlags: number, size = 4): FlagResult {
  const f = addFlags(a, 1, size).flags;
  return { flags: (f & ~CF) | (oldFlags & CF), defined: ARITH };
}

/** DEC: as SUB 1 with CF kept. */
export function decFlags(a: number, oldFlags: number, size = 4): FlagResult {
  const f = subFlags(a, 1, size).flags;
  return { flags: (f & ~CF) | (oldFlags & CF), defined: ARITH };
}
