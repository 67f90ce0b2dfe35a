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
  /** Memory written over the background: address and bytes (hex in a JSON file). */
  mem: [number, Uint8Array | string][];
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
  for (let k = 0; k < n; k++) out.push((v >>> (8 * k)) & 0xff);
  return out;
}

/** A little-endian byte buffer being filled (a table, a TSS). */
class Buf {
  readonly u8: Uint8Array;
  private readonly dv: DataView;
  constructor(size: number) {
    this.u8 = new Uint8Array(size);
    this.dv = new DataView(this.u8.buffer);
  }
  w16(off: number, v: number): void { this.dv.setUint16(off, v & 0xffff, true); }
  w32(off: number, v: number): void { this.dv.setUint32(off, v >>> 0, true); }
  w64(off: number, lo: number, hi: number): void { this.w32(off, lo); this.w32(off + 4, hi); }
  set(off: number, bytes: ArrayLike<number>): void { this.u8.set(bytes, off); }
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
  readonly mem: [number, Uint8Array][] = [];
  constructor(readonly r: Rng) {}
  put(addr: number, bytes: Uint8Array | number[]): void {
    this.mem.push([addr, bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes)]);
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
 * The instruction stream: `count` random instructions for `code32` at physical `phys` (the
 * background follows). A third of the streams are a counted loop around a shorter random body —
 * `mov ecx, n ; body: ... ; dec ecx ; jnz body` — so that their blocks run many times: compiled
 * code that goes round inside its function, and regions of several blocks.
 */
function stream(b: Builder, phys: number, code32: boolean, lin: number, count: number): number[] {
  const r = b.r;
  const loop = r.chance(0.33);
  const s = new StreamGen(r, code32, { pointers: pointers(code32, lin) }).generate(loop ? Math.max(2, count >> 2) : count);
  if (!loop) {
    b.put(phys, s.bytes);
    return s.starts;
  }
  const n = r.weighted([r.range(1, 20), r.range(20, 400)], [1, 2]);
  const head = code32 ? [0xb9, ...le(n, 4)] : [0xb9, ...le(n, 2)];
  const back = -(s.bytes.length + 1 + 2); // from the end of a short JNZ back to the body
  const tail = back >= -128 ? [0x49, 0x75, back & 0xff] : [0x49, 0x0f, 0x85, ...le(back - (code32 ? 4 : 2), code32 ? 4 : 2)];
  b.put(phys, [...head, ...s.bytes, ...tail]);
  return [0, ...s.starts.map((x) => x + head.length), head.length + s.bytes.length, head.length + s.bytes.length + 1];
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
    b.put(HANDLERS + v * 32, h.length > 32 ? h.slice(0, 32) : h);
  }
}

function writeGdt(b: Builder): void {
  const r = b.r;
  const t = new Buf(GDT_ENTRIES * 8);
  for (let k = 1; k < GDT_ENTRIES; k++) {
    const d = GDT_TABLE[k];
    let e: ArrayLike<number>;
    if (d !== undefined) e = desc(d.base, d.limit, d.type, d);
    else if (k === S_TSS >> 3) e = desc(TSS, 0x68 + 0x2000, 0xb, { s: false, db: false }); // busy: it is TR
    else if (k === S_LDT >> 3) e = desc(LDT, 0x3f, 0x2, { s: false, db: false });
    else if (k === S_CALLGATE >> 3) e = gate(S_CODE32, HANDLERS + 0x20 * 32, 0xc, 3, true, r.range(0, 2));
    else if (k === S_TSS16 >> 3) e = desc(TSS16, 0x2b, 0x1, { s: false, db: false });
    else if (k === S_TASKGATE >> 3) e = gate(S_TSS2, 0, 0x5, 3);
    else if (k === S_TSS2 >> 3) e = desc(TSS2, 0x67, 0x9, { s: false, db: false });
    else e = r.bytes(8);
    t.set(k * 8, e);
  }
  // Now and then, a few descriptors are replaced by random ones.
  if (r.chance(0.15)) {
    for (let n = r.range(1, 3); n > 0; n--) t.set(r.range(1, GDT_ENTRIES - 1) * 8, r.bytes(8));
  }
  b.put(GDT, t.u8);
  // LDT: a data and a code descriptor, the rest random.
  const l = new Buf(64);
  l.set(0, desc(DATA, 0xfffff, 0x3));
  l.set(8, desc(0, 0xffffffff, 0xb, { dpl: 3 }));
  l.set(16, desc(0, 0xffff, 0x3, { dpl: 3, db: false }));
  l.set(24, r.bytes(40));
  b.put(LDT, l.u8);
}

function writeIdt(b: Builder, code32Gates: boolean, sel: number, handlerBase: number): void {
  const r = b.r;
  const t = new Buf(256 * 8);
  for (let v = 0; v < 256; v++) {
    const off = handlerBase + v * 32;
    const type = r.weighted(code32Gates ? GATES32 : GATES16, GATE_WEIGHTS);
    if (type === 0) {
      t.set(v * 8, r.bytes(8));
      continue;
    }
    const dpl = r.chance(0.6) ? 3 : 0;
    t.set(v * 8, gate(type === 5 ? S_TSS2 : sel, type === 5 ? 0 : off, type, dpl, !r.chance(0.02)));
  }
  b.put(IDT, t.u8);
}

const GATES32 = [0xe, 0xf, 0x5, 0], GATES16 = [0x6, 0x7, 0x5, 0], GATE_WEIGHTS = [14, 5, 0.3, 0.2];

function writeTss(b: Builder, startEip: number): void {
  const r = b.r;
  const t = new Buf(0x68);
  t.w32(4, STACK_TOP); t.w32(8, S_DATA32); // ESP0, SS0
  t.w32(12, STACK_TOP - 0x400); t.w32(16, S_DATA32 | 1); // ESP1, SS1 (a wrong RPL: #TS if used)
  t.w32(20, STACK_TOP - 0x800); t.w32(24, S_DATA32);
  t.w32(0x1c, PD);
  t.w32(0x60, S_LDT);
  t.w16(0x66, r.chance(0.7) ? 0x68 : r.pick([0xffff, 0x2000, 0x60]));
  b.put(TSS, t.u8);
  // The I/O permission bitmap: mostly zero (allowed), some random bits, 0xFF after it.
  const map = new Uint8Array(0x2001);
  for (let n = r.range(0, 40); n > 0; n--) map[r.int(0x2000)] = r.byte();
  map[0x3f8 >> 3] = r.chance(0.5) ? 0 : 0xff;
  map[0x2000] = 0xff;
  b.put(IOMAP, map);
  // A second TSS to switch to (through the task gate): a flat ring-0 task at the stream.
  const t2 = new Buf(0x68);
  t2.w32(0x1c, PD); t2.w32(0x20, startEip); t2.w32(0x24, 0x2 | (r.int(0x100) & 0xd5)); t2.w32(0x38, STACK_TOP - 0x1000);
  for (const [off, sel] of [[0x48, S_DATA32], [0x4c, S_CODE32], [0x50, S_DATA32], [0x54, S_DATA32], [0x58, S_DATA32], [0x5c, S_DATA32]]) t2.w32(off, sel);
  t2.w32(0x60, S_LDT);
  t2.w32(0x64, 0xffff << 16);
  b.put(TSS2, t2.u8);
  // A 16-bit TSS (its SP0/SS0 and a task state of random bytes).
  const t3 = new Buf(44);
  t3.w16(2, STACK_TOP - 0x200); t3.w16(4, S_DATA32); t3.set(6, r.bytes(38));
  b.put(TSS16, t3.u8);
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
  const pd = new Buf(4096);
  pd.w32(0, PT0 | 0x7);
  pd.w32(0x300 * 4, PT1 | 0x7); // 0xC0000000: an alias of low memory
  if (pse) {
    pd.w32(4, 0x0 | 0x87 | (r.chance(0.5) ? 0x40 : 0)); // 4-8 MiB: a 4 MiB page over low memory
    pd.w32(0x3c0 * 4, 0xf0000000 | 0x87); // 0xF0000000: a 4 MiB page of MMIO
    pd.w32(0x3fb * 4, 0xfec00000 | 0x83);
  } else {
    pd.w32(4, PT1 | 0x7);
  }
  for (let n = r.range(0, 3); n > 0; n--) pd.w32(r.range(2, 1023) * 4, r.chance(0.5) ? PT1 | 0x7 : r.u32() & ~0x80);
  b.put(PD, pd.u8);
  for (const pt of [PT0, PT1]) {
    const t = new Buf(4096);
    for (let p = 0; p < 1024; p++) {
      if (p < 0x110 || r.chance(0.2)) t.w32(p * 4, (frame(p) << 12) | flags());
    }
    b.put(pt, t.u8);
  }
}

/** PAE tables: 0-2 MiB in 4 KiB pages, 2-4 MiB one 2 MiB page, 0xC0000000 an alias, 0xF0000000 MMIO. */
function writePae(b: Builder, user: boolean, nx: boolean): void {
  const r = b.r;
  const nxBit = (): number => (nx && r.chance(0.1) ? 0x80000000 : 0);
  const flags = (): number => {
    let f = 0x1 | (r.chance(0.85) ? 0x2 : 0) | (user || r.chance(0.3) ? 0x4 : 0) | (r.chance(0.5) ? 0x20 : 0) | (r.chance(0.4) ? 0x40 : 0);
    if (r.chance(0.03)) f &= ~1;
    return f;
  };
  const pdpt = new Buf(32);
  pdpt.w64(0, PAE_PD0 | 1, 0);
  pdpt.w64(24, PAE_PD3 | 1, 0);
  b.put(PDPT, pdpt.u8);
  const pd0 = new Buf(4096);
  pd0.w64(0, PAE_PT | 0x7, 0);
  pd0.w64(8, 0x000000 | 0x87, nxBit());
  b.put(PAE_PD0, pd0.u8);
  const pd3 = new Buf(4096);
  pd3.w64(0, PAE_PT | 0x7, 0);
  pd3.w64(0x180 * 8, 0xf0000000 | 0x83, 0);
  if (r.chance(0.05)) pd3.w64(0x1ff * 8, 0x83, 1); // a page above 4 GiB: an InternalError
  b.put(PAE_PD3, pd3.u8);
  const pt = new Buf(4096);
  for (let p = 0; p < 512; p++) {
    if (p < 0x110 || r.chance(0.2)) pt.w64(p * 8, (p << 12) | flags(), nxBit());
  }
  b.put(PAE_PT, pt.u8);
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

/** A case as JSON (memory as hex). */
export function caseToJson(c: FuzzCase): string {
  return JSON.stringify({ ...c, mem: c.mem.map(([a, m]) => [a, typeof m === 'string' ? m : Buffer.from(m).toString('hex')]) });
}

export function caseFromJson(text: string): FuzzCase {
  const c = JSON.parse(text) as FuzzCase;
  if (c.v !== 1) throw new Error(`fuzz case format ${String(c.v)} is not 1`);
  return c;
}

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
    const ivt = new Buf(1024);
    for (let v = 0; v < 256; v++) { ivt.w16(v * 4, v * 32); ivt.w16(v * 4 + 2, HANDLERS >> 4); }
    b.put(0, ivt.u8);
  } else {
    writeGdt(b);
    writeIdt(b, handlers32, handlers32 ? S_CODE32 : S_CODE16, handlers32 ? HANDLERS : HANDLERS - CODE);
    writeTss(b, startOffsets[0] + cs.base);
    if (paging && !pae) writePaging(b, user, (cr4 & 0x10) !== 0);
    if (pae) writePae(b, user, (efer & 0x800) !== 0);
  }
  // Some data: random bytes near the pointers the stream uses, and a stack of plausible values.
  for (let n = r.range(0, 4); n > 0; n--) b.put(DATA + r.int(0x5f000), r.bytes(r.range(4, 64)));
  const stack = r.bytes(0x80);
  for (let k = 0; k < 0x80; k += 4) if (r.chance(0.5)) stack.fill(0, k, k + 4);
  b.put(STACK_TOP - 0x40, stack);

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
  // The TSC and the SYSENTER MSRs are always set: Vcpu.reset() leaves them as the last case had
  // them, and a case must not depend on the ones before it.
  const msrs: [number, string][] = [[0x10, (r.chance(0.5) ? 0 : r.u32()).toString(16)]];
  const sysenter = r.chance(0.5);
  msrs.push([0x174, (sysenter ? (r.chance(0.8) ? S_CODE32 : r.u32() & 0xffff) : 0).toString(16)]);
  msrs.push([0x175, (sysenter ? STACK_TOP - 0x100 : 0).toString(16)]);
  msrs.push([0x176, (sysenter ? HANDLERS + 0x21 * 32 : 0).toString(16)]);
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
    mem: b.mem,
    bg: 1,
    monitor: r.u32(),
    budget: r.weighted([r.range(50, 400), r.range(400, 3000)], [1, 2]),
    maxExits: 400,
  };
}
