// Random x86 instruction streams, biased toward valid encodings: prefixes, the ModRM/SIB forms of
// the current address size, displacements and immediates of the right lengths, relative branches
// that mostly land on instruction boundaries of the stream (so loops form), and memory operands
// that mostly point at interesting places (RAM, MMIO, ROM, the code itself, page boundaries).
// The operand formats below are the Intel SDM's opcode maps (volume 2, appendix A), written out
// here independently of the core's decoder so that the two can disagree.

import type { Rng } from './rng.js';

/** Operand-format codes for generation. */
const enum F {
  None = 0,
  M = 1, // ModRM
  Ib = 2,
  Iw = 4,
  Iz = 8, // 16 or 32 bits by operand size
  Jb = 16,
  Jz = 32,
  Ap = 64, // far pointer: offset by operand size + selector
  O = 128, // moffs by address size
  IwIb = 256, // ENTER
  Prefix = 512,
  MReg = 1024, // ModRM whose mod is always treated as a register (MOV CRn/DRn)
}

const ONE = new Uint16Array(256);
const TWO = new Uint16Array(256);

function set(t: Uint16Array, from: number, to: number, f: number): void {
  for (let k = from; k <= to; k++) t[k] = f;
}

for (let b = 0; b < 0x40; b += 8) {
  set(ONE, b, b + 3, F.M);
  ONE[b + 4] = F.Ib;
  ONE[b + 5] = F.Iz;
}
for (const p of [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]) ONE[p] = F.Prefix;
ONE[0x0f] = F.None; // escape, handled separately
ONE[0x62] = F.M; ONE[0x63] = F.M;
ONE[0x68] = F.Iz; ONE[0x69] = F.M | F.Iz; ONE[0x6a] = F.Ib; ONE[0x6b] = F.M | F.Ib;
set(ONE, 0x70, 0x7f, F.Jb);
ONE[0x80] = F.M | F.Ib; ONE[0x81] = F.M | F.Iz; ONE[0x82] = F.M | F.Ib; ONE[0x83] = F.M | F.Ib;
set(ONE, 0x84, 0x8f, F.M);
ONE[0x9a] = F.Ap;
set(ONE, 0xa0, 0xa3, F.O);
ONE[0xa8] = F.Ib; ONE[0xa9] = F.Iz;
set(ONE, 0xb0, 0xb7, F.Ib);
set(ONE, 0xb8, 0xbf, F.Iz);
ONE[0xc0] = F.M | F.Ib; ONE[0xc1] = F.M | F.Ib; ONE[0xc2] = F.Iw;
ONE[0xc4] = F.M; ONE[0xc5] = F.M; ONE[0xc6] = F.M | F.Ib; ONE[0xc7] = F.M | F.Iz;
ONE[0xc8] = F.IwIb; ONE[0xca] = F.Iw; ONE[0xcd] = F.Ib;
set(ONE, 0xd0, 0xd3, F.M);
ONE[0xd4] = F.Ib; ONE[0xd5] = F.Ib;
set(ONE, 0xd8, 0xdf, F.M);
set(ONE, 0xe0, 0xe3, F.Jb);
set(ONE, 0xe4, 0xe7, F.Ib);
ONE[0xe8] = F.Jz; ONE[0xe9] = F.Jz; ONE[0xea] = F.Ap; ONE[0xeb] = F.Jb;
ONE[0xf6] = F.M; ONE[0xf7] = F.M; ONE[0xfe] = F.M; ONE[0xff] = F.M;

// Two-byte map: ModRM unless listed.
set(TWO, 0x00, 0xff, F.M);
for (const b of [0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x0e, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x77,
  0xa0, 0xa1, 0xa2, 0xa8, 0xa9, 0xaa]) TWO[b] = F.None;
set(TWO, 0xc8, 0xcf, F.None);
set(TWO, 0x80, 0x8f, F.Jz);
set(TWO, 0x20, 0x23, F.MReg);
for (const b of [0x70, 0x71, 0x72, 0x73, 0xa4, 0xac, 0xba, 0xc2, 0xc4, 0xc5, 0xc6, 0x0f]) TWO[b] = F.M | F.Ib;

/** Opcode groups and their weights: what the generator picks an instruction from. */
const GROUPS: { name: string; weight: number; ops: number[] }[] = [
  // ALU r/m,r; r,r/m; acc,imm; group 1 (ADD OR ADC SBB AND SUB XOR CMP), the compiler's core.
  { name: 'alu', weight: 20, ops: [...range(0x00, 0x3f).filter((b) => (b & 7) < 6 && ONE[b] !== F.Prefix), 0x80, 0x81, 0x83, 0x83, 0x81] },
  { name: 'mov', weight: 15, ops: [0x88, 0x89, 0x8a, 0x8b, 0x88, 0x89, 0x8a, 0x8b, 0xc6, 0xc7, ...range(0xb0, 0xbf), 0x8d, 0x1b6, 0x1b7, 0x1be, 0x1bf, 0xa0, 0xa1, 0xa2, 0xa3] },
  { name: 'incdec-stack', weight: 8, ops: [...range(0x40, 0x5f), 0x68, 0x6a, 0x8f, 0xff] },
  { name: 'shift', weight: 6, ops: [0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3, 0xc1, 0xd1, 0xd3, 0x1a4, 0x1a5, 0x1ac, 0x1ad] },
  { name: 'muldiv', weight: 5, ops: [0x69, 0x6b, 0x1af, 0xf6, 0xf7, 0x69, 0x6b, 0x1af] },
  { name: 'branch', weight: 10, ops: [...range(0x70, 0x7f), 0xeb, 0xe8, 0xe9, 0xe0, 0xe1, 0xe2, 0xe3, ...range(0x180, 0x18f)] },
  { name: 'misc-int', weight: 6, ops: [0x84, 0x85, 0xa8, 0xa9, 0x86, 0x87, ...range(0x90, 0x97), ...range(0x140, 0x14f), ...range(0x190, 0x19f), 0x1a3, 0x1ab, 0x1b3, 0x1bb, 0x1ba, 0x1bc, 0x1bd, 0x1b0, 0x1b1, 0x1c0, 0x1c1, 0x1c7, ...range(0x1c8, 0x1cf), 0xfe, 0xf6, 0xf7] },
  { name: 'string', weight: 6, ops: [...range(0xa4, 0xa7), ...range(0xaa, 0xaf), 0x6c, 0x6d, 0x6e, 0x6f] },
  { name: 'segment', weight: 4, ops: [0x8c, 0x8e, 0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x1a0, 0x1a1, 0x1a8, 0x1a9, 0xc4, 0xc5, 0x1b2, 0x1b4, 0x1b5] },
  { name: 'flags-bcd', weight: 4, ops: [0x9c, 0x9d, 0x9e, 0x9f, 0xf5, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0x98, 0x99, 0x27, 0x2f, 0x37, 0x3f, 0xd4, 0xd5, 0xd6, 0xd7] },
  { name: 'io', weight: 3, ops: [0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed, 0xee, 0xef] },
  { name: 'system', weight: 6, ops: [0x100, 0x101, 0x120, 0x122, 0x121, 0x123, 0x106, 0xf4, 0xcc, 0xcd, 0xce, 0xcf, 0x9a, 0xea, 0xc2, 0xc3, 0xca, 0xcb, 0x131, 0x1a2, 0x130, 0x132, 0x134, 0x135, 0x108, 0x109, 0x102, 0x103, 0x63, 0x62, 0xc8, 0xc9, 0x60, 0x61, 0xff, 0xf1, 0x10b, 0x118, 0x11f, 0x1ae] },
  { name: 'x87', weight: 4, ops: [...range(0xd8, 0xdf), 0x9b] },
];
const GROUP_WEIGHTS = GROUPS.map((g) => g.weight);
/** Weight of a uniformly random one-byte opcode, a random 0F opcode, and raw random bytes. */
const W_RANDOM1 = 5, W_RANDOM2 = 3, W_RAW = 2;

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let k = from; k <= to; k++) out.push(k);
  return out;
}

/** Where memory operands and immediates should often point (addresses in the case's layout). */
export interface Targets {
  /** Linear/offset values worth using as absolute addresses or register contents. */
  pointers: readonly number[];
}

/** One generated stream: its bytes and where each instruction starts. */
export interface Stream {
  bytes: number[];
  starts: number[];
}

interface Fixup {
  /** Offset of the displacement field, its size, and the offset of the next instruction. */
  at: number;
  size: number;
  next: number;
}

export class StreamGen {
  private out: number[] = [];
  private fixups: Fixup[] = [];
  private starts: number[] = [];

  constructor(private readonly rng: Rng, private readonly code32: boolean, private readonly targets: Targets) {}

  /** `count` instructions; most relative branches are then aimed at instruction starts. */
  generate(count: number): Stream {
    for (let n = 0; n < count; n++) {
      this.starts.push(this.out.length);
      this.insn();
    }
    const end = this.out.length;
    for (const f of this.fixups) {
      if (!this.rng.chance(0.75)) continue;
      // Mostly forward (the stream goes on), sometimes backward (a loop the budget ends).
      const to = this.rng.chance(0.7)
        ? this.starts.find((s) => s >= f.next && this.rng.chance(0.4)) ?? end
        : this.rng.pick(this.starts.filter((s) => s < f.next).concat([0]));
      const disp = to - f.next;
      if (f.size === 1 && (disp < -128 || disp > 127)) continue;
      if (f.size === 2 && (disp < -32768 || disp > 32767)) continue;
      for (let k = 0; k < f.size; k++) this.out[f.at + k] = (disp >> (8 * k)) & 0xff;
    }
    return { bytes: this.out, starts: this.starts };
  }

  private emit(b: number): void {
    this.out.push(b & 0xff);
  }

  private emitN(v: number, n: number): void {
    for (let k = 0; k < n; k++) this.emit(v >>> (8 * k));
  }

  private imm(n: number): number {
    const r = this.rng;
    const v = r.weighted(
      [() => r.u32(), () => r.range(0, 16), () => (-r.range(1, 16)) | 0, () => r.pick([0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff]), () => r.pick(this.targets.pointers)],
      [4, 3, 2, 2, 2],
    )();
    return n === 4 ? v : v & (n === 2 ? 0xffff : 0xff);
  }

  private insn(): void {
    const r = this.rng;
    const kind = r.weighted(['group', 'random1', 'random2', 'raw'], [GROUP_WEIGHTS.reduce((a, b) => a + b, 0), W_RANDOM1, W_RANDOM2, W_RAW]);
    if (kind === 'raw') {
      for (let k = r.range(1, 6); k > 0; k--) this.emit(r.byte());
      return;
    }
    let osz = this.code32 ? 4 : 2;
    let asz = this.code32 ? 4 : 2;
    let op: number;
    if (kind === 'group') {
      const g = r.weighted(GROUPS, GROUP_WEIGHTS);
      op = r.pick(g.ops);
      // Prefixes that matter to this kind of instruction.
      if (g.name === 'string' && r.chance(0.6)) this.emit(r.chance(0.8) ? 0xf3 : 0xf2);
    } else if (kind === 'random1') {
      do op = r.byte(); while (ONE[op] === F.Prefix || op === 0x0f);
    } else {
      op = 0x100 | r.byte();
    }
    // Other prefixes.
    if (r.chance(0.25)) {
      for (let k = r.weighted([1, 2, 3], [8, 3, 1]); k > 0; k--) {
        const p = r.weighted([0x66, 0x67, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0xf3, 0xf2, 0xf0], [6, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0.5]);
        if (p === 0x66) osz = 6 - osz;
        if (p === 0x67) asz = 6 - asz;
        this.emit(p);
      }
    }
    let f: number;
    if (op >= 0x100) {
      this.emit(0x0f);
      this.emit(op & 0xff);
      f = TWO[op & 0xff];
    } else {
      this.emit(op);
      f = ONE[op];
    }
    let reg = -1;
    if ((f & (F.M | F.MReg)) !== 0) reg = this.modrm(asz, (f & F.MReg) !== 0, op);
    if ((f & F.Ib) !== 0) this.emitN(this.imm(1), 1);
    if ((f & F.Iw) !== 0) this.emitN(this.imm(2), 2);
    if ((f & F.Iz) !== 0) this.emitN(this.imm(osz), osz);
    if ((op === 0xf6 || op === 0xf7) && reg >= 0 && reg < 2) this.emitN(this.imm(op === 0xf6 ? 1 : osz), op === 0xf6 ? 1 : osz);
    if ((f & F.IwIb) !== 0) {
      this.emitN(r.chance(0.7) ? r.range(0, 64) : r.u32(), 2);
      this.emit(r.chance(0.7) ? r.range(0, 3) : r.byte());
    }
    if ((f & F.O) !== 0) this.emitN(this.imm(asz), asz);
    if ((f & F.Ap) !== 0) {
      this.emitN(this.imm(osz), osz);
      this.emitN(r.pick([0x08, 0x10, 0x18, 0x20, 0x28, 0x38, 0x3b, 0x48, 0x58, 0x60, 0x70, r.u32() & 0xffff]), 2);
    }
    if ((f & (F.Jb | F.Jz)) !== 0) {
      const size = (f & F.Jb) !== 0 ? 1 : osz;
      const at = this.out.length;
      this.emitN(r.chance(0.8) ? r.range(-24, 48) : r.u32(), size);
      this.fixups.push({ at, size, next: this.out.length });
    }
  }

  /** A ModRM (with SIB and displacement) for address size `asz`; returns its reg field. */
  private modrm(asz: number, regOnly: boolean, op: number): number {
    const r = this.rng;
    const mod = regOnly ? r.range(0, 3) : r.weighted([0, 1, 2, 3], [3, 2, 1.5, 4]);
    let reg = r.int(8);
    if (op === 0x8e || op === 0x8c) reg = r.weighted([0, 1, 2, 3, 4, 5, 6, 7], [3, 0.5, 2, 3, 2, 2, 0.3, 0.3]);
    if (op === 0x120 || op === 0x122) reg = r.weighted([0, 2, 3, 4, 1, 5, 6, 7], [3, 2, 2, 3, 0.3, 0.3, 0.3, 0.3]);
    const rm = r.int(8);
    this.emit((mod << 6) | (reg << 3) | rm);
    if (mod === 3 || regOnly) return reg;
    if (asz === 2) {
      if (mod === 0 && rm === 6) this.emitN(this.pointer() & 0xffff, 2);
      else if (mod === 1) this.emit(r.chance(0.6) ? r.range(-8, 16) : r.byte());
      else if (mod === 2) this.emitN(r.chance(0.5) ? this.pointer() : r.u32(), 2);
      return reg;
    }
    let base = rm;
    if (rm === 4) {
      const sib = r.byte();
      this.emit(sib);
      base = sib & 7;
    }
    if (mod === 0 && base === 5) this.emitN(this.pointer(), 4);
    else if (mod === 1) this.emit(r.chance(0.6) ? r.range(-8, 16) : r.byte());
    else if (mod === 2) this.emitN(r.chance(0.5) ? this.pointer() : r.u32(), 4);
    return reg;
  }

  private pointer(): number {
    const r = this.rng;
    return r.chance(0.8) ? (r.pick(this.targets.pointers) + r.range(-4, 4)) >>> 0 : r.u32();
  }
}
