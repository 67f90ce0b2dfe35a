// Instruction decoding into plain numeric records, once per block. A block is a run of
// instructions from one physical page, ended by a control transfer, the page end or a size cap;
// it is cached by physical address and code size and dropped when its page is written.

import { CS, DS, SS } from './constants.js';
import { FAULT, type Cpu, type Handler } from './cpu.js';
import { HANDLERS, lockValid, specialize, ud, unimplemented } from './ops.js';
import type { Compiled } from './wasm-jit.js';
import { makeFieldsMutable } from './shapes.js';

export const P_REP = 1, P_REPNE = 2, P_LOCK = 4;

/** One decoded instruction. Fields are numbers only, so the record's shape never changes. */
export class Insn {
  handler: Handler = unimplemented;
  /** 0x00–0xFF one-byte opcodes, 0x100–0x1FF for 0F xx. */
  op = 0;
  len = 0;
  prefix = 0;
  /** Operand size in bytes (2 or 4) — byte forms use 1 by their own opcode. */
  osz = 4;
  /** Address size in bytes (2 or 4). */
  asz = 4;
  /** Segment of the memory operand, after defaults (SS for BP/ESP bases) and overrides. */
  seg = DS;
  /** Explicit segment override, -1 for none (string sources use it). */
  segOvr = -1;
  /** -1 when the instruction has no ModRM byte. */
  modrm = -1;
  mod = 0;
  reg = 0;
  rm = 0;
  base = -1;
  index = -1;
  scale = 0;
  disp = 0;
  imm = 0;
  imm2 = 0;
}

export class Block {
  insns: Insn[] = [];
  valid = true;
  cacheable = true;
  /** Executions so far (until compiled). */
  execCount = 0;
  /** Its last instruction branches back to its first (a tight loop: worth compiling early). */
  selfLoop = false;
  /** The bytes it was decoded from: offsets lo .. hi (exclusive) in its page. */
  lo = 0;
  hi = 0;
  /** Instruction records it decoded itself (a tail block shares another block's). */
  decoded = 0;
  /** The compiled form: undefined until tried, null when the compiler declined. */
  compiled: Compiled | null | undefined = undefined;
  /** Blocks whose compiled unit includes this one (compiled again when this one is dropped). */
  units: Block[] | null = null;
  /** Successor cache (see Cpu.getBlock): the last two blocks that followed this one. */
  succ0: Block | null = null;
  succ0Eip = 0;
  succ1: Block | null = null;
  succ1Eip = 0;
  succEpoch = -1;
  // Physical address × 2 + CS.D. Assigned after the fields above, and never declared as a field
  // of its own: a declared field would first hold undefined, and the number stored then would
  // change the field's representation, giving the first Blocks another hidden class than the
  // rest (see shapes.ts).
  declare readonly key: number;
  /**
   * An Insn and a Block whose fields were made mutable (see shapes.ts), kept reachable from the
   * class: V8's collector drops hidden classes no live object has, and new objects would then get
   * fresh ones with "const" fields again.
   */
  static readonly shapeTemplates: object[] = [];
  constructor(key: number) {
    (this as { key: number }).key = key;
  }

  /** The index of the instruction that starts at page offset `off`, or -1. */
  insnAt(off: number): number {
    let at = this.lo;
    for (let k = 0; k < this.insns.length; k++) {
      if (at === off) return k;
      if (at > off) return -1;
      at += this.insns[k].len;
    }
    return -1;
  }

  /** How many instructions lie before the one at `eip` in a block entered at `entry`. */
  indexOf(eip: number, entry: number, ipMask: number): number {
    const off = (eip - entry) & ipMask;
    let at = 0;
    for (let k = 0; k < this.insns.length; k++) {
      if (at === off) return k;
      at += this.insns[k].len;
    }
    return 0;
  }
}

// Every Insn and Block field changes after the first objects are built (see shapes.ts).
Block.shapeTemplates.push(makeFieldsMutable(new Insn()), makeFieldsMutable(new Block(0)));

const MAX_BLOCK = 64;

// Opcode properties for the one-byte map (bit flags).
const M = 1;        // has ModRM
const I8 = 2;       // imm8
const IZ = 4;       // imm16/32 by operand size
const I16 = 8;      // imm16
const FAR = 16;     // offset (by operand size) + selector
const MOFFS = 32;   // address-size offset
const END = 64;     // ends a block (control transfer)
const ENTER = 128;  // imm16 + imm8

const OPS1 = new Uint8Array(256);
const OPS2 = new Uint8Array(256);

function setRange(t: Uint8Array, from: number, to: number, f: number): void {
  for (let k = from; k <= to; k++) t[k] |= f;
}

// One-byte map.
for (let b = 0; b < 0x40; b += 8) {
  setRange(OPS1, b, b + 3, M);
  OPS1[b + 4] |= I8;
  OPS1[b + 5] |= IZ;
}
OPS1[0x62] |= M; OPS1[0x63] |= M;
OPS1[0x68] |= IZ; OPS1[0x69] |= M | IZ; OPS1[0x6a] |= I8; OPS1[0x6b] |= M | I8;
setRange(OPS1, 0x70, 0x7f, I8 | END);
OPS1[0x80] |= M | I8; OPS1[0x81] |= M | IZ; OPS1[0x82] |= M | I8; OPS1[0x83] |= M | I8;
setRange(OPS1, 0x84, 0x8f, M);
OPS1[0x9a] |= FAR | END;
setRange(OPS1, 0xa0, 0xa3, MOFFS);
OPS1[0xa8] |= I8; OPS1[0xa9] |= IZ;
setRange(OPS1, 0xb0, 0xb7, I8);
setRange(OPS1, 0xb8, 0xbf, IZ);
OPS1[0xc0] |= M | I8; OPS1[0xc1] |= M | I8;
OPS1[0xc2] |= I16 | END; OPS1[0xc3] |= END;
OPS1[0xc4] |= M; OPS1[0xc5] |= M;
OPS1[0xc6] |= M | I8; OPS1[0xc7] |= M | IZ;
OPS1[0xc8] |= ENTER;
OPS1[0xca] |= I16 | END; OPS1[0xcb] |= END; OPS1[0xcc] |= END; OPS1[0xcd] |= I8 | END; OPS1[0xce] |= END; OPS1[0xcf] |= END;
setRange(OPS1, 0xd0, 0xd3, M);
OPS1[0xd4] |= I8; OPS1[0xd5] |= I8;
setRange(OPS1, 0xd8, 0xdf, M);
setRange(OPS1, 0xe0, 0xe7, I8);
setRange(OPS1, 0xe0, 0xe3, END);
OPS1[0xe8] |= IZ | END; OPS1[0xe9] |= IZ | END; OPS1[0xea] |= FAR | END; OPS1[0xeb] |= I8 | END;
OPS1[0xf1] |= END; OPS1[0xf4] |= END;
OPS1[0xf6] |= M; OPS1[0xf7] |= M; OPS1[0xfe] |= M; OPS1[0xff] |= M;

// Two-byte (0F) map.
setRange(OPS2, 0x00, 0x03, M);
OPS2[0x0d] |= M;
setRange(OPS2, 0x18, 0x1f, M);
setRange(OPS2, 0x20, 0x23, M);
setRange(OPS2, 0x40, 0x4f, M);
setRange(OPS2, 0x80, 0x8f, IZ | END);
setRange(OPS2, 0x90, 0x9f, M);
OPS2[0xa3] |= M; OPS2[0xa4] |= M | I8; OPS2[0xa5] |= M;
OPS2[0xab] |= M; OPS2[0xac] |= M | I8; OPS2[0xad] |= M; OPS2[0xae] |= M; OPS2[0xaf] |= M;
setRange(OPS2, 0xb0, 0xb7, M);
OPS2[0xba] |= M | I8;
setRange(OPS2, 0xbb, 0xbf, M);
OPS2[0xc0] |= M; OPS2[0xc1] |= M; OPS2[0xc7] |= M;
OPS2[0x34] |= END; OPS2[0x35] |= END; OPS2[0x0b] |= END; OPS2[0xaa] |= END;

/** A group opcode whose ModRM.reg field selects a control transfer (FF /2 /3 /4 /5). */
export function endsBlock(op: number, reg: number): boolean {
  if (op < 0x100) {
    if ((OPS1[op] & END) !== 0) return true;
    if (op === 0xff && reg >= 2 && reg <= 5) return true;
    return false;
  }
  return (OPS2[op & 0xff] & END) !== 0;
}

/**
 * The displacement of a relative branch — Jcc, LOOP/JECXZ (both `conditional`), JMP, CALL — or
 * null for any other instruction. Added to the next instruction's EIP (masked to the operand
 * size), it gives the target.
 */
export function relativeBranch(i: Insn): { disp: number; conditional: boolean } | null {
  const op = i.op;
  if ((op >= 0x70 && op <= 0x7f) || (op >= 0xe0 && op <= 0xe3)) return { disp: (i.imm << 24) >> 24, conditional: true };
  if (op >= 0x180 && op <= 0x18f) return { disp: i.imm | 0, conditional: true };
  if (op === 0xeb) return { disp: (i.imm << 24) >> 24, conditional: false };
  if (op === 0xe9 || op === 0xe8) return { disp: i.imm | 0, conditional: false };
  return null;
}

/** The decoder's byte cursor (module state, so fetching allocates nothing). */
let dCpu: Cpu;
let dEip = 0;
let dp = 0;

function fetch(): number {
  if (dp >= 15) dCpu.gp(0);
  const v = dCpu.fetchCode((dEip + dp) | 0);
  dp++;
  return v;
}

function fetch16(): number {
  return fetch() | (fetch() << 8);
}

function fetch32(): number {
  return fetch() | (fetch() << 8) | (fetch() << 16) | (fetch() << 24);
}

/**
 * Decode one instruction at CS:eip into `i`. Returns its length. Raises #GP when it is longer
 * than 15 bytes, #PF/#GP from the fetch.
 */
export function decodeInsn(cpu: Cpu, eip: number, code32: boolean, i: Insn): number {
  let p = 0;
  let prefix = 0;
  let osz = code32 ? 4 : 2;
  let asz = code32 ? 4 : 2;
  let segOvr = -1;
  let b: number;
  for (;;) {
    if (p >= 15) cpu.gp(0);
    b = cpu.fetchCode((eip + p) | 0);
    p++;
    switch (b) {
      case 0x26: segOvr = 0; continue;
      case 0x2e: segOvr = 1; continue;
      case 0x36: segOvr = 2; continue;
      case 0x3e: segOvr = 3; continue;
      case 0x64: segOvr = 4; continue;
      case 0x65: segOvr = 5; continue;
      case 0x66: osz = code32 ? 2 : 4; continue;
      case 0x67: asz = code32 ? 2 : 4; continue;
      case 0xf0: prefix |= P_LOCK; continue;
      case 0xf2: prefix = (prefix & ~P_REP) | P_REPNE; continue;
      case 0xf3: prefix = (prefix & ~P_REPNE) | P_REP; continue;
    }
    break;
  }
  let op = b;
  let props: number;
  if (b === 0x0f) {
    if (p >= 15) cpu.gp(0);
    op = 0x100 | cpu.fetchCode((eip + p) | 0);
    p++;
    props = OPS2[op & 0xff];
  } else {
    props = OPS1[op];
  }
  i.op = op;
  i.prefix = prefix;
  i.osz = osz;
  i.asz = asz;
  i.segOvr = segOvr;
  i.seg = segOvr >= 0 ? segOvr : DS;
  i.modrm = -1;
  i.mod = 0; i.reg = 0; i.rm = 0;
  i.base = -1; i.index = -1; i.scale = 0; i.disp = 0;
  i.imm = 0; i.imm2 = 0;

  // From here on bytes come through fetch()/fetch16()/fetch32(), which advance the cursor dp.
  dCpu = cpu;
  dEip = eip;
  dp = p;

  if ((props & M) !== 0) {
    const m = fetch();
    i.modrm = m;
    const mod = m >> 6, reg = (m >> 3) & 7, rm = m & 7;
    i.mod = mod; i.reg = reg; i.rm = rm;
    // MOV to/from control and debug registers always use the register form.
    const forceReg = op >= 0x120 && op <= 0x123;
    if (forceReg) i.mod = 3;
    if (mod !== 3 && !forceReg) {
      let defSS = false;
      if (asz === 2) {
        switch (rm) {
          case 0: i.base = 3; i.index = 6; break; // bx+si
          case 1: i.base = 3; i.index = 7; break; // bx+di
          case 2: i.base = 5; i.index = 6; defSS = true; break; // bp+si
          case 3: i.base = 5; i.index = 7; defSS = true; break; // bp+di
          case 4: i.base = 6; break;
          case 5: i.base = 7; break;
          case 6: if (mod === 0) { i.disp = fetch16(); } else { i.base = 5; defSS = true; } break;
          default: i.base = 3; break;
        }
        if (mod === 1) i.disp = (fetch() << 24) >> 24;
        else if (mod === 2) i.disp = fetch16();
      } else {
        if (rm === 4) {
          const sib = fetch();
          const ss = sib >> 6, idx = (sib >> 3) & 7, base = sib & 7;
          if (idx !== 4) { i.index = idx; i.scale = ss; }
          if (base === 5 && mod === 0) {
            i.disp = fetch32();
          } else {
            i.base = base;
            if (base === 4 || base === 5) defSS = true;
          }
        } else if (rm === 5 && mod === 0) {
          i.disp = fetch32();
        } else {
          i.base = rm;
          if (rm === 5) defSS = true;
        }
        if (mod === 1) i.disp = (fetch() << 24) >> 24;
        else if (mod === 2) i.disp = fetch32();
      }
      if (segOvr < 0 && defSS) i.seg = SS;
    }
  }
  if ((props & (I8 | IZ | I16 | FAR | MOFFS | ENTER)) !== 0) {
    if ((props & I8) !== 0) {
      i.imm = fetch();
    } else if ((props & IZ) !== 0) {
      i.imm = osz === 4 ? fetch32() : fetch16();
    } else if ((props & I16) !== 0) {
      i.imm = fetch16();
    } else if ((props & FAR) !== 0) {
      i.imm = osz === 4 ? fetch32() : fetch16();
      i.imm2 = fetch16();
    } else if ((props & MOFFS) !== 0) {
      i.disp = asz === 4 ? fetch32() : fetch16();
    } else {
      i.imm = fetch16();
      i.imm2 = fetch();
    }
  }
  // Group F6/F7 /0 and /1 (TEST) carry an immediate.
  if ((op === 0xf6 || op === 0xf7) && i.reg < 2) {
    i.imm = op === 0xf6 ? fetch() : osz === 4 ? fetch32() : fetch16();
  }
  p = dp;
  i.len = p;
  i.handler = (prefix & P_LOCK) !== 0 && !lockValid(i) ? ud : specialize(i) ?? HANDLERS[op];
  return p;
}

/** Decode a block starting at CS:eip. */
export function decodeBlock(cpu: Cpu, eip: number, code32: boolean, key: number): Block {
  const block = new Block(key);
  const startLin = (cpu.segBase[CS] + eip) | 0;
  const pageEnd = (startLin & ~4095) + 4096;
  let off = eip;
  const savedCr2 = cpu.cr2;
  let hi = startLin & 4095;
  for (let n = 0; n < MAX_BLOCK; n++) {
    const i = cpu.insnPool.pop() ?? new Insn(); // decodeInsn sets every field
    let len: number;
    if (n === 0) {
      len = decodeInsn(cpu, off, code32, i);
    } else {
      try {
        len = decodeInsn(cpu, off, code32, i);
      } catch (e) {
        // A fault while decoding ahead ends the block; it is raised when execution gets there.
        if (e !== FAULT) throw e;
        cpu.cr2 = savedCr2;
        break;
      }
    }
    const lin = (cpu.segBase[CS] + off) | 0;
    const crosses = ((lin - startLin) | 0) + len > ((pageEnd - startLin) | 0);
    // 16-bit IP wrapping to the segment's start leaves the page: the block ends before that.
    if (n > 0 && (lin ^ startLin) >>> 12 !== 0) break;
    if (crosses) {
      if (n === 0) {
        // An instruction that straddles two pages is never cached: its second page may be remapped.
        block.insns.push(i);
        block.cacheable = false;
      }
      break;
    }
    block.insns.push(i);
    hi = (lin & 4095) + len;
    off = (off + len) | 0;
    if (!code32) off &= 0xffff;
    if (endsBlock(i.op, i.reg)) break;
    if (((cpu.segBase[CS] + off) | 0) === pageEnd) break;
  }
  block.lo = startLin & 4095;
  block.hi = hi;
  markSelfLoop(block, eip, off, code32);
  return block;
}

/** selfLoop: the block ends with a relative branch other than CALL to its first instruction. */
function markSelfLoop(block: Block, eip: number, end: number, code32: boolean): void {
  const last = block.insns[block.insns.length - 1];
  const branch = last.op === 0xe8 ? null : relativeBranch(last);
  block.selfLoop = branch !== null && ((end + branch.disp - eip) & (code32 ? -1 : 0xffff)) === 0;
}

/**
 * The block that starts at the instruction `k` of `whole` (a cached block of the same page and
 * code size), at CS:eip: its instructions are `whole`'s from k on — the same decoded records,
 * shared, not decoded again. Execution resumes in the middle of a block after every exit, fault
 * and interrupt; decoding up to 64 instructions afresh each time made straight-line code that
 * exits at every instruction (MMIO) decode and keep 64 records per instruction.
 */
export function tailBlock(whole: Block, k: number, eip: number, code32: boolean, key: number): Block {
  const block = new Block(key);
  block.insns = whole.insns.slice(k);
  let lo = whole.lo;
  for (let j = 0; j < k; j++) lo += whole.insns[j].len;
  block.lo = lo;
  block.hi = whole.hi;
  markSelfLoop(block, eip, (eip + whole.hi - lo) & (code32 ? -1 : 0xffff), code32);
  return block;
}

/**
 * Decode the one instruction at CS:eip into `block` (reused: nothing is allocated), for code that
 * is not cached. The block is not cacheable and is never compiled.
 */
export function decodeSingle(cpu: Cpu, eip: number, code32: boolean, block: Block): Block {
  let i = block.insns[0];
  if (i === undefined) {
    i = new Insn();
    block.insns.push(i);
  }
  decodeInsn(cpu, eip, code32, i);
  block.valid = true;
  block.cacheable = false;
  block.compiled = null;
  block.succ0 = null;
  block.succ1 = null;
  block.succEpoch = -1;
  return block;
}
