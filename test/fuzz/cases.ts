// Random differential cases: a machine state (mode, registers, segment caches, control
// registers, x87, MSRs) and memory contents (descriptor tables, page tables, TSSs, interrupt
// handlers, a random instruction stream) over a fixed physical layout that is partly RAM, partly
// ROM and partly unmapped (MMIO). A case is plain JSON: the fuzzers write failing ones to disk and
// test/fuzz/repro/ keeps the ones worth keeping, replayed by inproc.test.ts.
//
// Only types come from src, so that the caller decides which instance of the core runs a case.

import type { FpuState, Regs, Segment, Sregs } from '../../src/hv/types.js';
import { Rng } from './rng.js';
import { StreamGen } from './x86gen.js';

// ---------------------------------------------------------------------------------------------
// Physical layout

/** The host buffer behind the RAM and ROM slots. */
export const HOST_SIZE = 0x110000;
/** Memory slots: guest-physical start, size, read-only. Everything else is MMIO. */
export const SLOTS: readonly { guestPhys: number; size: number; readonly: boolean }[] = [
  { guestPhys: 0x00000, size: 0xa0000, readonly: false }, // conventional memory
  // 0xA0000-0xBFFFF: MMIO (the VGA hole)
  { guestPhys: 0xc0000, size: 0x30000, readonly: false },
  { guestPhys: 0xf0000, size: 0x10000, readonly: true }, // ROM: guest writes are dropped
  { guestPhys: 0x100000, size: 0x10000, readonly: false }, // the HMA (A20)
  // 0x110000 and up: MMIO
];

// Where the system structures live (all in RAM).
const GDT = 0x1000, LDT = 0x1800, IDT = 0x2000, TSS = 0x3000, IOMAP = TSS + 0x68, TSS16 = 0x5100, TSS2 = 0x5200;
const PD = 0x6000, PT0 = 0x7000, PT1 = 0x8000, PDPT = 0x9000, PAE_PD0 = 0xa000, PAE_PT = 0xb000, PAE_PD3 = 0xd000;
/** The instruction stream (64 KiB window), the interrupt handlers (32 bytes per vector), the stack. */
const CODE = 0x10000, HANDLERS = 0x20000, STACK = 0x30000, STACK_TOP = 0x3ff00, DATA = 0x40000;

// GDT selectors (see gdt() below).
const S_CODE32 = 0x08, S_DATA32 = 0x10, S_CODE16 = 0x18, S_DATA16 = 0x20, S_DATA_BASED = 0x28, S_EXPDOWN = 0x30;
const S_RODATA = 0x38, S_CONFORM = 0x40, S_XONLY = 0x48, S_CODE32_SMALL = 0x50, S_UCODE32 = 0x5b, S_UDATA32 = 0x63;
const S_UCODE16 = 0x6b, S_TSS = 0x70, S_LDT = 0x78, S_CALLGATE = 0x83, S_TSS16 = 0x88, S_TASKGATE = 0x93;
const S_NOTPRESENT = 0x98, S_TSS2 = 0xa0, S_EDGE = 0xa8, S_STRADDLE = 0xb0;
const GDT_ENTRIES = 0xc0 / 8;

export const MODES = ['real', 'pm16', 'pm32', 'pm32-paging', 'pm32-pae', 'ring3', 'v86'] as const;
export type Mode = (typeof MODES)[number];

export interface FuzzCase {
  /** Format version of this record. */
  v: 1;
  /** Where it came from (seed and index), for the reports. */
  id: string;
  mode: Mode;
  /** CPU model (src/hv/cpu-models.ts). */
  cpu: string;
  a20: boolean;
  regs: Regs;
  sregs: Sregs;
  fpu: FpuState | null;
  /** MSRs to set: index → value as a hex string. */
  msrs: [number, string][];
  /** Memory written over the background (addr, hex bytes). */
  mem: [number, string][];
  /** Seed of the background every RAM byte starts from (see background()). */
  bg: number;
  /** Seed of the simulated monitor: device data, budget slices, injected interrupts. */
  monitor: number;
  /** Instructions (and exception deliveries) the whole case may spend. */
  budget: number;
  /** Exits after which the case stops. */
  maxExits: number;
}

// ---------------------------------------------------------------------------------------------
// Background

const bgCache = new Map<number, Uint8Array>();

/** The bytes every case's host buffer starts from: pseudo-random, fixed by `seed`. */
export function background(seed: number): Uint8Array {
  let b = bgCache.get(seed);
  if (b === undefined) {
    b = new Rng(seed, 0xb9).bytes(HOST_SIZE);
    bgCache.set(seed, b);
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// Encodings (Intel SDM vol. 3, chapter 3 and 7)

function le(v: number, n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push(Math.floor(v / 2 ** (8 * k)) & 0xff);
  return out;
}

/** A segment descriptor; `limit` in bytes (G is set when it does not fit 20 bits). */
function desc(base: number, limit: number, type: number, opts: { s?: boolean; dpl?: number; db?: boolean; p?: boolean } = {}): number[] {
  const s = opts.s ?? true, dpl = opts.dpl ?? 0, db = opts.db ?? true, p = opts.p ?? true;
  const g = limit > 0xfffff;
  const lim = g ? limit >>> 12 : limit;
  const lo = ((lim & 0xffff) | ((base & 0xffff) << 16)) >>> 0;
  const hi = (((base >>> 16) & 0xff) | (type << 8) | ((s ? 1 : 0) << 12) | (dpl << 13) | ((p ? 1 : 0) << 15) |
    (lim & 0xf0000) | ((db ? 1 : 0) << 22) | ((g ? 1 : 0) << 23) | (base & 0xff000000)) >>> 0;
  return [...le(lo, 4), ...le(hi, 4)];
}

/** A gate descriptor (interrupt 6/0xE, trap 7/0xF, call 0xC, task 5). */
function gate(sel: number, offset: number, type: number, dpl: number, present = true, params = 0): number[] {
  const lo = ((offset & 0xffff) | (sel << 16)) >>> 0;
  const hi = ((offset & 0xffff0000) | ((present ? 1 : 0) << 15) | (dpl << 13) | (type << 8) | params) >>> 0;
  return [...le(lo, 4), ...le(hi, 4)];
}

/** The segment cache setSregs wants. */
function seg(selector: number, base: number, limit: number, type: number, o: { s?: boolean; dpl?: number; db?: boolean; g?: boolean; unusable?: boolean; present?: boolean } = {}): Segment {
  return {
    selector, base: base >>> 0, limit: limit >>> 0, type, present: o.present ?? true, dpl: o.dpl ?? 0, db: o.db ?? false,
    s: o.s ?? true, g: o.g ?? limit > 0xfffff, avl: false, unusable: o.unusable ?? false,
  };
}

/** The cache of a GDT selector, as a descriptor load would fill it (accessed bit set). */
function cacheOf(sel: number): Segment {
  const d = GDT_TABLE[sel >> 3];
  if (d === undefined) throw new Error(`no cache for selector ${sel.toString(16)}`);
  return seg(sel, d.base, d.limit, d.type | (d.s === false ? 0 : 1), { dpl: d.dpl ?? 0, db: d.db ?? true, s: d.s ?? true });
}

interface DescSpec { base: number; limit: number; type: number; s?: boolean; dpl?: number; db?: boolean; p?: boolean }

/** The fixed part of the GDT, by index (selector >> 3). */
const GDT_TABLE: Record<number, DescSpec> = {
  [S_CODE32 >> 3]: { base: 0, limit: 0xffffffff, type: 0xb },
  [S_DATA32 >> 3]: { base: 0, limit: 0xffffffff, type: 0x3 },
  [S_CODE16 >> 3]: { base: CODE, limit: 0xffff, type: 0xb, db: false },
  [S_DATA16 >> 3]: { base: STACK, limit: 0xffff, type: 0x3, db: false },
  [S_DATA_BASED >> 3]: { base: DATA, limit: 0xffffffff, type: 0x3 },
  [S_EXPDOWN >> 3]: { base: 0, limit: 0x3ffff, type: 0x7 },
  [S_RODATA >> 3]: { base: 0, limit: 0xffffffff, type: 0x1 },
  [S_CONFORM >> 3]: { base: 0, limit: 0xffffffff, type: 0xf },
  [S_XONLY >> 3]: { base: 0, limit: 0xffffffff, type: 0x9 },
  [S_CODE32_SMALL >> 3]: { base: CODE, limit: 0xffff, type: 0xb },
  [S_UCODE32 >> 3]: { base: 0, limit: 0xffffffff, type: 0xb, dpl: 3 },
  [S_UDATA32 >> 3]: { base: 0, limit: 0xffffffff, type: 0x3, dpl: 3 },
  [S_UCODE16 >> 3]: { base: CODE, limit: 0xffff, type: 0xb, dpl: 3, db: false },
  [S_NOTPRESENT >> 3]: { base: 0, limit: 0xffffffff, type: 0x3, p: false },
  [S_EDGE >> 3]: { base: 0x9f000, limit: 0xfff, type: 0x3 },
  [S_STRADDLE >> 3]: { base: 0x9f800, limit: 0x1fff, type: 0x3 },
};

// ---------------------------------------------------------------------------------------------
// Case generation

class Builder {
  readonly mem: [number, number[]][] = [];
  constructor(readonly r: Rng) {}
  put(addr: number, bytes: number[]): void {
    this.mem.push([addr, bytes]);
  }
}

/** Pointers worth aiming at, as linear addresses (or offsets, for 16-bit code). */
function pointers(code32: boolean, streamLin: number): number[] {
  if (!code32) return [0, 2, 0x7ffe, 0x8000, 0xfffe, 0xffff, 0xfff, 0x1000, streamLin & 0xffff, (streamLin + 16) & 0xffff, 0xff00, 0x100];
  return [
    DATA, DATA + 0x1000 - 2, 0x9fffe, 0xa0000, 0xa0ffc, 0xbfffe, 0xc0000, 0xefffe, 0xf0000, 0xf8000, 0xffffe,
    0x100000, 0x10fffe, 0x110000, 0x200000, 0xf0000000, 0xfec00000, 0xfffffffc, streamLin, streamLin + 8, streamLin + 64,
    STACK_TOP - 8, STACK + 0xfff, 0xc0000000 + DATA, 0xc0010000, 0x400000, 0x800000, PD, PT0, GDT, IDT, TSS,
  ];
}

/** A register value: small, a pointer, a boundary value or anything. */
function regValue(r: Rng, ptrs: readonly number[]): number {
  return r.weighted(
    [() => r.u32(), () => r.range(0, 0x100), () => r.pick(ptrs) + r.range(-8, 8), () => r.pick([0, 1, 0xffffffff, 0x80000000, 0x7fffffff, 0xffff, 0x8000])],
    [3, 3, 5, 2],
  )() >>> 0;
}

/**
 * The instruction stream: `count` random instructions for `code32` at physical `phys`, then a
 * few bytes of tail (the background follows).
 */
function stream(b: Builder, phys: number, code32: boolean, lin: number, count: number): number[] {
  const s = new StreamGen(b.r, code32, { pointers: pointers(code32, lin) }).generate(count);
  b.put(phys, s.bytes);
  return s.starts;
}

/** Handler code for one vector (what an exception or interrupt through it runs). */
function handler(r: Rng, code32: boolean, vector: number, hasErr: boolean, resume: number[] | null): number[] {
  const popErr = hasErr ? (code32 ? [0x83, 0xc4, 0x04] : [0x83, 0xc4, 0x02]) : [];
  const kind = r.weighted(['hlt-iret', 'skip', 'resume', 'random'], [3, 3, resume === null ? 0 : 2, 2]);
  const iret = code32 ? [0xcf] : [0xcf];
  switch (kind) {
    case 'hlt-iret':
      return [0xf4, ...popErr, ...iret];
    case 'skip': { // move the return EIP past 1-4 bytes and return (so a faulting instruction is left)
      const n = r.range(1, 4);
      return code32
        ? [...popErr, 0x83, 0x04, 0x24, n, ...iret] // add dword [esp], n
        : [...popErr, 0x55, 0x89, 0xe5, 0x83, 0x46, 0x02, n, 0x5d, ...iret]; // push bp; mov bp,sp; add word [bp+2],n; pop bp
    }
    case 'resume':
      return resume!;
    default: {
      const s = new StreamGen(r, code32, { pointers: pointers(code32, HANDLERS + vector * 32) }).generate(r.range(1, 4));
      return s.bytes.slice(0, 32);
    }
  }
}

const ERR_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17]);

function writeHandlers(b: Builder, code32: boolean, errorCodes: boolean, resume: (vector: number) => number[] | null): void {
  for (let v = 0; v < 256; v++) {
    const h = handler(b.r, code32, v, errorCodes && ERR_VECTORS.has(v), resume(v));
    b.put(HANDLERS + v * 32, h.slice(0, 32));
  }
}

function writeGdt(b: Builder): void {
  const r = b.r;
  const bytes: number[] = [];
  for (let k = 0; k < GDT_ENTRIES; k++) {
    const d = GDT_TABLE[k];
    if (d !== undefined) bytes.push(...desc(d.base, d.limit, d.type, d));
    else if (k === S_TSS >> 3) bytes.push(...desc(TSS, 0x68 + 0x2000, 0xb, { s: false, db: false })); // busy: it is TR
    else if (k === S_LDT >> 3) bytes.push(...desc(LDT, 0x3f, 0x2, { s: false, db: false }));
    else if (k === S_CALLGATE >> 3) bytes.push(...gate(S_CODE32, HANDLERS + 0x20 * 32, 0xc, 3, true, r.range(0, 2)));
    else if (k === S_TSS16 >> 3) bytes.push(...desc(TSS16, 0x2b, 0x1, { s: false, db: false }));
    else if (k === S_TASKGATE >> 3) bytes.push(...gate(S_TSS2, 0, 0x5, 3));
    else if (k === S_TSS2 >> 3) bytes.push(...desc(TSS2, 0x67, 0x9, { s: false, db: false }));
    else bytes.push(...Array.from(r.bytes(8))); // 0x00 stays null below; the rest random
  }
  for (let k = 0; k < 8; k++) bytes[k] = 0;
  // Now and then, a few descriptors are replaced by random ones.
  if (r.chance(0.15)) {
    for (let n = r.range(1, 3); n > 0; n--) {
      const k = r.range(1, GDT_ENTRIES - 1);
      bytes.splice(k * 8, 8, ...Array.from(r.bytes(8)));
    }
  }
  b.put(GDT, bytes);
  // LDT: a data and a code descriptor, the rest random.
  b.put(LDT, [...desc(DATA, 0xfffff, 0x3), ...desc(0, 0xffffffff, 0xb, { dpl: 3 }), ...desc(0, 0xffff, 0x3, { dpl: 3, db: false }), ...Array.from(r.bytes(40))]);
}

function writeIdt(b: Builder, code32Gates: boolean, sel: number, handlerBase: number): void {
  const r = b.r;
  const bytes: number[] = [];
  for (let v = 0; v < 256; v++) {
    const off = handlerBase + v * 32;
    const type = r.weighted([code32Gates ? 0xe : 0x6, code32Gates ? 0xf : 0x7, 0x5, 0], [14, 5, 0.3, 0.2]);
    if (type === 0) {
      bytes.push(...Array.from(r.bytes(8)));
      continue;
    }
    const dpl = r.chance(0.6) ? 3 : 0;
    bytes.push(...gate(type === 5 ? S_TSS2 : sel, type === 5 ? 0 : off, type, dpl, !r.chance(0.02)));
  }
  b.put(IDT, bytes);
}

function writeTss(b: Builder, startEip: number): void {
  const r = b.r;
  const t = new Array<number>(0x68).fill(0);
  const w32 = (off: number, v: number): void => { t.splice(off, 4, ...le(v >>> 0, 4)); };
  w32(4, STACK_TOP); w32(8, S_DATA32); // ESP0, SS0
  w32(12, STACK_TOP - 0x400); w32(16, S_DATA32 | 1); // ESP1, SS1 (a wrong RPL: #TS if used)
  w32(20, STACK_TOP - 0x800); w32(24, S_DATA32);
  w32(0x1c, PD);
  w32(0x60, S_LDT);
  const iomapBase = r.chance(0.7) ? 0x68 : r.pick([0xffff, 0x2000, 0x60]);
  t.splice(0x66, 2, ...le(iomapBase, 2));
  b.put(TSS, t);
  // The I/O permission bitmap: mostly zero (allowed), some random bits, 0xFF after it.
  const map = new Array<number>(0x2001).fill(0);
  for (let n = r.range(0, 40); n > 0; n--) map[r.int(0x2000)] = r.byte();
  map[0x3f8 >> 3] = r.chance(0.5) ? 0 : 0xff;
  map[0x2000] = 0xff;
  b.put(IOMAP, map);
  // A second TSS to switch to (through the task gate): a flat ring-0 task at the stream.
  const t2 = new Array<number>(0x68).fill(0);
  const v32 = (off: number, v: number): void => { t2.splice(off, 4, ...le(v >>> 0, 4)); };
  v32(0x1c, PD); v32(0x20, startEip); v32(0x24, 0x2 | (r.int(0x100) & 0xd5)); v32(0x38, STACK_TOP - 0x1000);
  for (const [off, s] of [[0x48, S_DATA32], [0x4c, S_CODE32], [0x50, S_DATA32], [0x54, S_DATA32], [0x58, S_DATA32], [0x5c, S_DATA32]]) v32(off, s);
  v32(0x60, S_LDT);
  v32(0x64, 0xffff << 16);
  b.put(TSS2, t2);
  // A 16-bit TSS (its SP0/SS0 and a task state of random bytes).
  b.put(TSS16, [0, 0, ...le(STACK_TOP - 0x200, 2), ...le(S_DATA32, 2), ...Array.from(r.bytes(38))]);
}

/** Two-level page tables (with 4 MiB pages when PSE may be used). */
function writePaging(b: Builder, user: boolean, pse: boolean): void {
  const r = b.r;
  const flags = (): number => {
    let f = 0x1 | (r.chance(0.85) ? 0x2 : 0) | (user || r.chance(0.3) ? 0x4 : 0);
    if (r.chance(0.5)) f |= 0x20; // accessed
    if (r.chance(0.4)) f |= 0x40; // dirty
    if (r.chance(0.2)) f |= 0x100; // global
    if (r.chance(0.03)) f &= ~1; // not present
    return f;
  };
  const frame = (p: number): number => (r.chance(0.02) ? r.pick([r.int(0x110), 0xa0 + r.int(0x20), 0xf0000 + r.int(16), r.int(0x100000)]) : p);
  const pd = new Array<number>(4096).fill(0);
  const pde = (k: number, v: number): void => { pd.splice(k * 4, 4, ...le(v >>> 0, 4)); };
  pde(0, PT0 | 0x7);
  pde(0x300, PT1 | 0x7); // 0xC0000000: an alias of low memory
  if (pse) {
    pde(1, 0x0 | 0x87 | (r.chance(0.5) ? 0x40 : 0)); // 4-8 MiB: a 4 MiB page over low memory
    pde(0x3c0, 0xf0000000 | 0x87); // 0xF0000000: a 4 MiB page of MMIO
    pde(0x3fb, 0xfec00000 & 0xffc00000 | 0x83);
  } else {
    pde(1, PT1 | 0x7);
  }
  for (let n = r.range(0, 3); n > 0; n--) pde(r.range(2, 1023), r.chance(0.5) ? PT1 | 0x7 : r.u32() & ~0x80);
  b.put(PD, pd);
  for (const [pt, first] of [[PT0, 0], [PT1, 0]]) {
    const t = new Array<number>(4096).fill(0);
    for (let p = 0; p < 1024; p++) {
      const f = p < 0x110 || r.chance(0.2) ? flags() : 0;
      t.splice(p * 4, 4, ...le(((frame(first + p) << 12) | f) >>> 0, 4));
    }
    b.put(pt, t);
  }
}

/** PAE tables: 0-2 MiB in 4 KiB pages, 2-4 MiB one 2 MiB page, 0xC0000000 an alias, 0xF0000000 MMIO. */
function writePae(b: Builder, user: boolean, nx: boolean): void {
  const r = b.r;
  const e64 = (lo: number, hi: number): number[] => [...le(lo >>> 0, 4), ...le(hi >>> 0, 4)];
  const nxBit = (): number => (nx && r.chance(0.1) ? 0x80000000 : 0);
  const flags = (): number => {
    let f = 0x1 | (r.chance(0.85) ? 0x2 : 0) | (user || r.chance(0.3) ? 0x4 : 0) | (r.chance(0.5) ? 0x20 : 0) | (r.chance(0.4) ? 0x40 : 0);
    if (r.chance(0.03)) f &= ~1;
    return f;
  };
  b.put(PDPT, [...e64(PAE_PD0 | 1, 0), ...e64(0, 0), ...e64(0, 0), ...e64(PAE_PD3 | 1, 0)]);
  const pd0 = new Array<number>(4096).fill(0);
  pd0.splice(0, 8, ...e64(PAE_PT | 0x7, 0));
  pd0.splice(8, 8, ...e64(0x000000 | 0x87, nxBit()));
  b.put(PAE_PD0, pd0);
  const pd3 = new Array<number>(4096).fill(0);
  pd3.splice(0, 8, ...e64(PAE_PT | 0x7, 0));
  pd3.splice(0x180 * 8, 8, ...e64(0xf0000000 | 0x83, 0));
  if (r.chance(0.05)) pd3.splice(0x1ff * 8, 8, ...e64(0x83, 1)); // a page above 4 GiB: an InternalError
  b.put(PAE_PD3, pd3);
  const pt = new Array<number>(4096).fill(0);
  for (let p = 0; p < 512; p++) {
    const f = p < 0x110 || r.chance(0.2) ? flags() : 0;
    pt.splice(p * 8, 8, ...e64(((p << 12) | f) >>> 0, nxBit()));
  }
  b.put(PAE_PT, pt);
}

function eflags(r: Rng, opts: { iopl: boolean; vm?: boolean }): number {
  let f = 0x2 | (r.u32() & 0x8d5);
  if (r.chance(0.2)) f |= 0x400; // DF
  if (r.chance(0.5)) f |= 0x200; // IF
  if (r.chance(0.03)) f |= 0x100; // TF
  if (r.chance(0.1)) f |= 0x40000; // AC
  if (r.chance(0.03)) f |= 0x4000; // NT
  if (r.chance(0.02)) f |= 0x10000; // RF
  if (opts.iopl) f |= r.int(4) << 12;
  if (opts.vm) f |= 0x20000;
  return f >>> 0;
}

function randomFpu(r: Rng): FpuState {
  const fpr: number[][] = [];
  for (let k = 0; k < 8; k++) {
    const b = Array.from(r.bytes(10));
    if (r.chance(0.5)) b[9] = (b[9] & 0x80) | 0x3f; // a moderate exponent
    if (r.chance(0.7)) b[7] |= 0x80; // normal (integer bit set)
    fpr.push(b);
  }
  return {
    fpr, fcw: r.chance(0.7) ? 0x37f : r.u32() & 0x1f3f | 0x40, fsw: r.chance(0.7) ? 0 : r.u32() & 0x3800,
    ftwx: r.byte(), lastOpcode: 0, lastIp: 0, lastCs: 0, lastDp: 0, lastDs: 0, mxcsr: 0x1f80,
  };
}

const hex = (bytes: number[]): string => Buffer.from(bytes).toString('hex');

/** Generate case number `index` of the run with seed `seed`. */
export function generateCase(seed: number, index: number, onlyMode?: Mode): FuzzCase {
  const r = new Rng(seed, index);
  const b = new Builder(r);
  const mode: Mode = onlyMode ?? r.weighted([...MODES], [2, 1.5, 3, 2, 1.5, 1.5, 1.5]);
  const code32 = mode !== 'real' && mode !== 'pm16' && mode !== 'v86';
  const paging = mode === 'pm32-paging' || mode === 'pm32-pae' || ((mode === 'ring3' || mode === 'v86') && r.chance(0.5));
  const pae = mode === 'pm32-pae';
  const user = mode === 'ring3' || mode === 'v86';
  const count = r.range(8, 64);

  let cr0 = 0x60000010; // CD NW ET, as after reset
  if (mode !== 'real') cr0 |= 1;
  if (r.chance(0.5)) cr0 &= ~0x60000000;
  if (r.chance(0.3)) cr0 |= 0x40000; // AM
  if (r.chance(0.5)) cr0 |= 0x20; // NE
  if (r.chance(0.3)) cr0 |= 0x2; // MP
  if (r.chance(0.08)) cr0 |= 0x8; // TS
  if (r.chance(0.04)) cr0 |= 0x4; // EM
  let cr4 = 0;
  if (r.chance(0.5)) cr4 |= 0x10; // PSE
  if (r.chance(0.3)) cr4 |= 0x80; // PGE
  if (r.chance(0.1)) cr4 |= 0x8; // DE
  if (r.chance(0.1)) cr4 |= 0x4; // TSD
  if (r.chance(0.3)) cr4 |= 0x200; // OSFXSR
  let efer = 0;
  if (paging) {
    cr0 |= 0x80000000;
    if (r.chance(0.6)) cr0 |= 0x10000; // WP
    if (pae) {
      cr4 |= 0x20;
      if (r.chance(0.6)) efer |= 0x800;
    }
  }

  // Where the stream runs: CS base + IP = physical CODE + offset.
  const ipOff = r.chance(0.3) ? 0x1000 - r.range(1, 24) : r.range(0, 0xe000); // sometimes across a page boundary
  let regsEip: number;
  let cs: Segment;
  const realSeg = (sel: number, type: number, big = false): Segment => seg(sel, sel << 4, big ? 0xffffffff : 0xffff, type, { g: big });
  const v86Seg = (sel: number, type: number): Segment => seg(sel, sel << 4, 0xffff, type, { dpl: 3 });
  const dataSels = [0x0000, 0x4000, CODE >> 4, 0xa000, 0xf000, 0xffff, 0x3000, r.u32() & 0xffff];
  let ds: Segment, es: Segment, fs: Segment, gs: Segment, ss: Segment;
  let esp: number;
  let startLin: number;
  switch (mode) {
    case 'real': case 'v86': {
      const csSel = CODE >> 4;
      cs = mode === 'real' ? realSeg(csSel, 0xb) : v86Seg(csSel, 0xb);
      regsEip = ipOff;
      const mk = (sel: number): Segment => (mode === 'real' ? realSeg(sel, 0x3, r.chance(0.1)) : v86Seg(sel, 0x3));
      ds = mk(r.pick(dataSels)); es = mk(r.pick(dataSels)); fs = mk(r.pick(dataSels)); gs = mk(r.pick(dataSels));
      ss = mk(r.chance(0.85) ? STACK >> 4 : r.pick(dataSels));
      esp = r.chance(0.85) ? 0xff00 - r.int(0x100) : regValue(r, [0, 2, 0xfffe, 0x8000]);
      startLin = CODE + ipOff;
      break;
    }
    case 'pm16': {
      cs = cacheOf(S_CODE16);
      regsEip = ipOff;
      const pick = (): Segment => cacheOf(r.pick([S_DATA16, S_DATA32, S_DATA_BASED, S_EXPDOWN, S_RODATA, S_EDGE, S_DATA16]));
      ds = pick(); es = pick(); fs = pick(); gs = pick();
      ss = cacheOf(S_DATA16);
      esp = 0xff00 - r.int(0x100);
      startLin = CODE + ipOff;
      break;
    }
    default: {
      const csSel = mode === 'ring3' ? S_UCODE32 : r.weighted([S_CODE32, S_CODE32_SMALL, S_CONFORM, S_XONLY], [8, 2, 1, 1]);
      cs = cacheOf(csSel);
      regsEip = cs.base === 0 ? CODE + ipOff : ipOff;
      const dataPool = mode === 'ring3'
        ? [S_UDATA32, S_UDATA32, S_UDATA32, S_DATA32, 0]
        : [S_DATA32, S_DATA32, S_DATA32, S_DATA_BASED, S_EXPDOWN, S_RODATA, S_EDGE, S_STRADDLE, S_DATA16, 0];
      const pick = (): Segment => {
        const sel = r.pick(dataPool);
        return sel === 0 ? seg(0, 0, 0, 0, { unusable: true, present: false }) : cacheOf(sel);
      };
      ds = pick(); es = pick(); fs = pick(); gs = pick();
      ss = cacheOf(mode === 'ring3' ? S_UDATA32 : r.chance(0.9) ? S_DATA32 : S_EXPDOWN);
      esp = r.chance(0.85) ? STACK_TOP - r.int(0x100) * 4 - r.int(4) : regValue(r, [0, 4, STACK + 0x1002, 0x40002, 0xa0004]);
      startLin = CODE + ipOff;
    }
  }
  const starts = stream(b, CODE + ipOff, code32, startLin, count);
  const startOffsets = starts.map((s) => regsEip + s);

  // Handlers: "resume" jumps back to a random instruction of the stream (only where the handler
  // runs at the stream's privilege on its stack: real mode, and ring-0 protected mode).
  const handlers32 = mode !== 'real' && mode !== 'pm16';
  const resume = (vector: number): number[] | null => {
    const to = r.pick(startOffsets) & (code32 ? 0xffffffff : 0xffff);
    const frame = (handlers32 ? 12 : 6) + (mode !== 'real' && ERR_VECTORS.has(vector) ? (handlers32 ? 4 : 2) : 0);
    if (mode === 'real' || mode === 'pm16') return [0x83, 0xc4, frame, 0xea, ...le(to, 2), ...le(mode === 'real' ? CODE >> 4 : S_CODE16, 2)];
    if (mode === 'ring3' || mode === 'v86') return null;
    return [0x83, 0xc4, frame, 0xea, ...le(to >>> 0, 4), ...le(cs.selector, 2)];
  };
  writeHandlers(b, handlers32, mode !== 'real', resume);
  if (mode === 'real') {
    const ivt: number[] = [];
    for (let v = 0; v < 256; v++) ivt.push(...le(v * 32, 2), ...le(HANDLERS >> 4, 2));
    b.put(0, ivt);
  } else {
    writeGdt(b);
    writeIdt(b, handlers32, handlers32 ? S_CODE32 : S_CODE16, handlers32 ? HANDLERS : HANDLERS - CODE);
    writeTss(b, startOffsets[0] + cs.base);
    if (paging && !pae) writePaging(b, user, (cr4 & 0x10) !== 0);
    if (pae) writePae(b, user, (efer & 0x800) !== 0);
  }
  // Some data: random bytes near the pointers the stream uses, and a stack of plausible values.
  for (let n = r.range(0, 4); n > 0; n--) b.put(DATA + r.int(0x5f000), Array.from(r.bytes(r.range(4, 64))));
  b.put(STACK_TOP - 0x40, Array.from({ length: 0x80 }, () => r.chance(0.5) ? 0 : r.byte()));

  const ptrs = pointers(code32, startLin);
  const regs: Regs = {
    eax: regValue(r, ptrs), ecx: r.chance(0.3) ? r.range(0, 40) : regValue(r, ptrs), edx: regValue(r, ptrs), ebx: regValue(r, ptrs),
    esp: esp >>> 0, ebp: regValue(r, ptrs), esi: regValue(r, ptrs), edi: regValue(r, ptrs),
    eip: regsEip >>> 0, eflags: eflags(r, { iopl: mode === 'ring3' || mode === 'v86' || r.chance(0.2), vm: mode === 'v86' }),
  };
  const trUsable = mode !== 'real';
  const sregs: Sregs = {
    cs, ds, es, fs, gs, ss,
    tr: trUsable ? seg(S_TSS, TSS, 0x68 + 0x2000, 0xb, { s: false }) : seg(0, 0, 0xffff, 0xb, { s: false }),
    ldt: mode === 'real' || r.chance(0.3) ? seg(0, 0, 0xffff, 0x2, { s: false }) : seg(S_LDT, LDT, 0x3f, 0x2, { s: false }),
    gdt: { base: GDT, limit: GDT_ENTRIES * 8 - 1 },
    idt: mode === 'real' ? { base: 0, limit: 0x3ff } : { base: IDT, limit: r.chance(0.97) ? 0x7ff : r.pick([0, 0xff, 0x107]) },
    cr0: cr0 >>> 0, cr2: 0, cr3: pae ? PDPT : PD, cr4, efer, apicBase: 0xfee00900,
  };
  const msrs: [number, string][] = [];
  if (r.chance(0.5)) {
    msrs.push([0x174, (r.chance(0.8) ? S_CODE32 : r.u32() & 0xffff).toString(16)]);
    msrs.push([0x175, (STACK_TOP - 0x100).toString(16)]);
    msrs.push([0x176, (HANDLERS + 0x21 * 32).toString(16)]);
  }
  return {
    v: 1,
    id: `${seed}:${index}`,
    mode,
    cpu: r.weighted(['pentium2', 'pentiumpro', 'i486'], [8, 1, 1]),
    a20: mode !== 'real' || r.chance(0.8),
    regs,
    sregs,
    fpu: r.chance(0.3) ? randomFpu(r) : null,
    msrs,
    mem: b.mem.map(([addr, bytes]) => [addr, hex(bytes)] as [number, string]),
    bg: 1,
    monitor: r.u32(),
    budget: r.weighted([r.range(50, 400), r.range(400, 3000)], [1, 2]),
    maxExits: 400,
  };
}
