// The x86 core: architectural state, memory access through segmentation and the software TLB,
// lazy flags, exceptions and interrupt delivery, and the block-executing run loop.
// Instruction semantics live in ops.ts and system.ts; decoding in decoder.ts.

import { ExitReason, type ExitRecord } from '../hv/exit.js';
import type { CpuidEntry, MsrEntry, Regs, Segment, Sregs } from '../hv/types.js';
import {
  AC, AR_DB, AR_G, AR_P, AR_S, AR_UNUSABLE, CR0_AM, CR0_ET, CR0_PE, CR0_PG, CR0_WP, CR4_PAE, CR4_PGE, CR4_PSE,
  CS, DB, DF, DS, EFER_NXE, ES, ESP, F_AC, F_AF, F_ARITH, F_CF, F_FIXED, F_IF, F_NT, F_OF, F_PF, F_RF,
  F_SF, F_TF, F_VM, F_ZF, FS, GP, GS, LDTR, NP, PF, SS, SSF, TR, TS,
} from './constants.js';
import { Block, decodeBlock, decodeSingle, tailBlock } from './decoder.js';
import type { PhysicalMemory } from './memory.js';
import { cr4Allowed, defaultCpuid, leaf1Features } from './cpuid.js';
import {
  MSR_APIC_BASE, MSR_EFER, MSR_SYSENTER_CS, MSR_SYSENTER_EIP, MSR_SYSENTER_ESP, MSR_TSC, msrDef, msrModel,
  resetStorage, writeAllowed, writeTakesEffect,
} from './msrs.js';
import { X87 } from './fpu.js';
import { compileBlockWasm, releaseCompiled, type Unit } from './wasm-jit.js';
import { TASK_INT, taskSwitch } from './task.js';
import type { Insn } from './decoder.js';
import { makeFieldsMutable } from './shapes.js';
import {
  BYTE_REG_OFFSET, GPR_COUNT, SEG_COUNT, S_DR, S_GPR, S_SEG_AR, S_SEG_BASE, S_SEG_LIMIT, S_SEG_MAX, S_SEG_MIN,
  S_SEG_RW, S_SEG_SEL, TLB_ENTRIES, TLB_OFFSET, TLB_PHYS_OFFSET, STATE_SIZE, S_LAZY, I_FLAGS,
  LAZY_A, LAZY_B, LAZY_CIN, LAZY_MASK, LAZY_OP, LAZY_RES, LAZY_SIGN, LAZY_STALE,
} from './state.js';


const INT_MIN = -2147483648;

/**
 * 1 when x < y (x <= y with orEqual) as unsigned 32-bit numbers, else 0. Compared as signed
 * numbers with the sign bits flipped, in int32 arithmetic throughout: `(x >>> 0) < (y >>> 0)`
 * gives numbers above 2^31, which V8 first optimises as small integers and then deoptimises.
 */
function unsignedBelow(x: number, y: number, orEqual: boolean): number {
  const a = x ^ INT_MIN, b = y ^ INT_MIN;
  return (orEqual ? a <= b : a < b) ? 1 : 0;
}

/** Thrown (one preallocated object) when a guest exception is raised; caught in run(). */
export const FAULT = { kind: 'guest-fault' };
/** Thrown when the current instruction must stop and leave run() (MMIO read, internal error). */
export const EXIT = { kind: 'vm-exit' };

// Lazy flag operations.
export const L_NONE = 0, L_ADD = 1, L_ADC = 2, L_SUB = 3, L_SBB = 4, L_LOGIC = 5;

// TLB entry bits (the low 12 bits of an entry; the high 20 are the host page offset).
const T_VALID = 0x1, T_SW = 0x2, T_UR = 0x4, T_UW = 0x8, T_GLOBAL = 0x10, T_MMIO = 0x20;
const T_CODE = 0x80, T_NX = 0x100;
/**
 * With T_CODE: the write permissions (T_SW, T_UW) the entry had before its page's decoded code
 * took them away, so a write that overlaps no decoded instruction goes to memory on the slow
 * path without a page walk.
 */
const T_CSW = 0x40, T_CUW = 0x200;
/** Never set in an entry: wanted by the masks while every data access must take the slow path. */
const T_WATCH = 0x400;

const PARITY = new Uint8Array(256);
for (let v = 0; v < 256; v++) {
  let b = v;
  b ^= b >> 4; b ^= b >> 2; b ^= b >> 1;
  PARITY[v] = (b & 1) === 0 ? F_PF : 0;
}

/** Interrupt sources, which decide the return address and the privilege checks. */
export const INT_EXT = 0, INT_SOFT = 1, INT_EXC = 2, INT_ICEBP = 3;

const BR8 = BYTE_REG_OFFSET;

const TLB_LIST_MAX = 4096;
/** MMIO reads one instruction may make (CMPS and MOVS make two, POPA eight, FXRSTOR 128). */
const MAX_MMIO_READS = 128;
/**
 * Decoded instructions kept in the block cache at most; beyond, every block is dropped (as QEMU
 * flushes a full translation buffer), so decoded code takes bounded memory (a record is about
 * 170 bytes): one per KiB of guest RAM, at least 128 K (about 22 MiB: the bundled Linux boot
 * keeps 75 K) and at most 1 M (Debian's installer boot, 512 MiB, keeps 283 K).
 */
function maxCachedInsns(ramBytes: number): number {
  return Math.max(1 << 17, Math.min(1 << 20, Math.floor(ramBytes / 1024)));
}
/** Blocks kept in the block cache at most (the same flush beyond). */
const MAX_CACHED_BLOCKS = 1 << 17;
/** Writes that hit a code page's decoded instructions before the page runs uncached for a while. */
const VOLATILE_AFTER = 64;
/**
 * Instructions a volatile page runs uncached (decoded one at a time) before it is cached again:
 * the first time, and at most after doubling each time it turns volatile again.
 */
const VOLATILE_RUNS = 4096;
const VOLATILE_RUNS_MAX = 1 << 22;
/** Entries of the direct-mapped block cache (a power of two). */
const BLOCK_CACHE_SIZE = 4096;

/** Executions of a block before it is compiled to JavaScript (VMRUN_JIT=0 turns the compiler off). */
/** Executions before a block is compiled: measured best on the bench's boots (docs/performance-log.md). */
const JIT_THRESHOLD = process.env.VMRUN_JIT === '0' ? Infinity : Number(process.env.VMRUN_JIT_THRESHOLD ?? 3000);
/** A block that loops on itself runs inside its compiled function from then on: compile it sooner. */
const JIT_LOOP_THRESHOLD = Math.max(1, Math.floor(JIT_THRESHOLD / 10));
/** Executions a block needs to join the compiled region of a hotter block in its page. */
const JIT_REGION_MIN = Math.max(1, Math.floor(JIT_THRESHOLD / 8));


/** Debug aid: VMRUN_TRACE_EXCEPTIONS=1 prints every guest exception on stderr. */
const TRACE_EXCEPTIONS = process.env.VMRUN_TRACE_EXCEPTIONS === '1';

export class Cpu {
  // --- registers
  /**
   * The general registers, views of the machine memory's register file (state.ts): 16 registers
   * of 8 bytes, so 32-bit register r is `regs[r << 1]`, 16-bit `regs16[r << 2]`, 8-bit
   * `regs8[BYTE_REG_OFFSET[r]]`.
   */
  readonly regs: Int32Array;
  readonly regs16: Uint16Array;
  readonly regs8: Uint8Array;
  /**
   * The state area as i32 cells (state.ts); `st[I_FLAGS]` is EFLAGS, whose arithmetic bits named
   * in the lazy record's stale mask are derived from that record.
   */
  readonly st: Int32Array;
  /** The lazy-flag record (LAZY_* indices of state.ts): operation, operands, result, carry in, size mask and sign bit, and the EFLAGS bits it stands for. */
  readonly lz: Int32Array;
  eip = 0;

  // --- segments (cached descriptors)
  readonly segSel: Int32Array;
  readonly segBase: Int32Array;
  /** Byte-granular limit as an unsigned value. */
  readonly segLimit: Float64Array;
  readonly segAr: Int32Array;
  /** Lowest and highest valid offsets (expand-down segments have a high window). */
  readonly segMin: Float64Array;
  readonly segMax: Float64Array;
  /** Bit 0 readable, bit 1 writable. */
  readonly segRW: Uint8Array;
  /** Bit s set when segment s is flat, bit s + 8 when it is 4 GiB read/write with any base (see deriveSeg); compiled units test them. */
  flatBits = 0;
  gdtBase = 0; gdtLimit = 0xffff;
  idtBase = 0; idtLimit = 0x3ff;

  // --- control
  cr0 = CR0_ET;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  efer = 0;
  readonly dr: Int32Array;
  cpl = 0;
  /** CS.D: 32-bit code. */
  code32 = false;
  /** SS.B: 32-bit stack pointer. */
  stack32 = false;
  /** 0xFFFF or -1: how EIP wraps. */
  ipMask = 0xffff;
  /** True in protected mode (CR0.PE) and not virtual-8086. */
  pmode = false;
  vm86 = false;

  // --- MSR storage
  sysenterCs = 0; sysenterEsp = 0; sysenterEip = 0;
  apicBase = 0xfee00900 | 0;
  /**
   * The TSC is instructions retired + tscOffset (the monitor's, small: time without
   * instructions) + tscBase (what a WRMSR to the TSC set, kept as a BigInt so a value above
   * 2^53 stays exact; 0n almost always, which keeps RDTSC in number arithmetic).
   */
  tscOffset = 0;
  tscBase = 0n;
  readonly msrStore = new Map<number, bigint>();
  cpuid: CpuidEntry[] = defaultCpuid();
  /** What of the CPUID table decides which MSRs exist. */
  msrModel = msrModel(this.cpuid);
  /** CPUID leaf 1 EDX of the table: instructions of unreported features raise #UD. */
  features = leaf1Features(this.cpuid);
  /** CR4 bits of reported features (others #GP). */
  cr4Allowed = cr4Allowed(this.cpuid);
  /** The x87 FPU state. */
  readonly x87 = new X87();

  // --- execution
  instructionCount = 0;
  /** instructionCount when the running WebAssembly-compiled block was entered (wasm-jit.ts). */
  jitEntryCount = 0;
  /** EIP when it was entered (the unit's blocks are at fixed offsets from it). */
  jitEntryEip = 0;
  /** The running WebAssembly unit's handler calls (wasm-jit.ts). */
  jitUnit: Unit | null = null;
  nextEip = 0;
  /** Non-zero: stop executing the current block after this instruction. */
  brk = 0;
  /**
   * Non-zero: a REP string instruction must end its execution after the current element (an
   * MMIO write to leave run() with, a data breakpoint to deliver). Cleared by the instruction.
   */
  stringStop = 0;
  /** An exit to produce after the current instruction (ExitReason), 0 for none. */
  exitPending = 0;
  interruptShadow = false;
  irqWindowRequested = false;
  /** The block being executed and the EIP it was entered at (for retired()). */
  curBlock: Block | null = null;
  curEntry = 0;
  /**
   * The block that ran last (null after anything but a normal block end) and the epoch of its
   * successor cache: bumped by whatever changes how an EIP maps to a block (TLB flushes, INVLPG,
   * setCpl — called by updateMode after CS loads and mode changes), which then empties every
   * block's cache. A dropped block is not valid, so no cache returns it.
   */
  private prevBlock: Block | null = null;
  private chainEpoch = 0;
  /** DR6 status bits of a debug trap to deliver after the current instruction (0 for none). */
  pendingDebugTrap = 0;
  /** Breakpoints enabled in DR7, by kind (bit n for DRn). */
  debugExec = 0;
  debugData = 0;
  debugIo = 0;
  /** CPL 3 with CR0.AM and EFLAGS.AC: misaligned data accesses raise #AC. */
  alignCheck = false;
  /** Data accesses must take the slow path (alignCheck or data breakpoints). */
  watch = false;
  private pendingVector = -1;
  excVector = 0;
  excError = -1;
  /** Set while an exception is being delivered (double-fault detection). */
  private exit!: ExitRecord;
  /** An IN/INS waiting for the monitor's data: 0 none, else operand size; INS has pendingIns. */
  pendingIn = 0;
  pendingIns = false;
  pendingInsRep = false;
  pendingInsLen = 0;
  pendingInsAsz = 4;
  /**
   * MMIO reads of the instruction being completed (as KVM's emulator keeps its fragments): an
   * instruction's first MMIO read leaves run(); the next run() re-executes the instruction with
   * the monitor's data, and a second read (CMPS, MOVS with both operands in MMIO) leaves again,
   * and so on, every read reaching the device once.
   */
  private mmioReadPending = false;
  private readonly fragAddr = new Float64Array(MAX_MMIO_READS);
  private readonly fragSize = new Uint8Array(MAX_MMIO_READS);
  private readonly fragData = new Int32Array(MAX_MMIO_READS);
  /** Reads with data, and how many the re-executed instruction has consumed. */
  private fragCount = 0;
  private fragUsed = 0;
  /** Budget left (run()'s limit) and exception deliveries, while run() runs. */
  private runLimit = 0;
  private runDeliveries = 0;
  /** Queued MMIO writes, each leaving run() as one exit. */
  private readonly mmioWq = new Float64Array(8 * 4);
  private mmioWqHead = 0;
  private mmioWqLen = 0;

  // --- memory
  readonly mem: PhysicalMemory;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly tlb: Int32Array;
  /** Guest-physical page of each TLB entry (for MMIO and code tracking). */
  readonly tlbPhys: Int32Array;
  private readonly tlbList = new Int32Array(TLB_LIST_MAX);
  private tlbListLen = 0;
  private tlbListOverflow = false;
  rMask = T_VALID | T_MMIO; rWant = T_VALID;
  wMask = T_SW; wWant = T_SW;
  xMask = T_VALID | T_MMIO | T_NX; xWant = T_VALID;

  // --- decoded blocks
  readonly blocks = new Map<number, Block>();
  private readonly blockCache: Array<Block | undefined> = new Array<Block | undefined>(BLOCK_CACHE_SIZE).fill(undefined);
  /** Code pages (by guest-physical page): their blocks and which bytes those cover. */
  private readonly codePages: Array<CodePage | undefined> = [];
  /** Instructions in cached blocks (bounded by maxCachedInsns). */
  cachedInsns = 0;
  /** The bound of cachedInsns: beyond it every block is dropped (tests set it lower). */
  maxCachedInsns = 1 << 17;
  /** Counters of the decoded-code cache, for --stats and tests. */
  readonly codeStats = { blocksDecoded: 0, tailBlocks: 0, singleDecodes: 0, flushes: 0, volatilePages: 0, unitsCompiled: 0, compileMs: 0 };
  /** Decoded-instruction records of flushed blocks, for the decoder to reuse. */
  readonly insnPool: Insn[] = [];
  /** The block that ran last (kept across run() calls: where execution resumes mid-block). */
  private lastBlock: Block | null = null;
  /** The one block a volatile page's instructions are decoded into, one at a time. */
  private readonly scratch = new Block(-1);

  constructor(mem: PhysicalMemory) {
    this.mem = mem;
    const b = mem.buffer;
    this.st = new Int32Array(b, 0, STATE_SIZE >> 2);
    this.lz = new Int32Array(b, S_LAZY, 8);
    this.lz[LAZY_OP] = L_NONE;
    this.regs = new Int32Array(b, S_GPR, GPR_COUNT * 2);
    this.regs16 = new Uint16Array(b, S_GPR, GPR_COUNT * 4);
    this.regs8 = new Uint8Array(b, S_GPR, GPR_COUNT * 8);
    this.segSel = new Int32Array(b, S_SEG_SEL, SEG_COUNT);
    this.segBase = new Int32Array(b, S_SEG_BASE, SEG_COUNT);
    this.segLimit = new Float64Array(b, S_SEG_LIMIT, SEG_COUNT);
    this.segAr = new Int32Array(b, S_SEG_AR, SEG_COUNT);
    this.segMin = new Float64Array(b, S_SEG_MIN, SEG_COUNT);
    this.segMax = new Float64Array(b, S_SEG_MAX, SEG_COUNT);
    this.segRW = new Uint8Array(b, S_SEG_RW, SEG_COUNT);
    this.dr = new Int32Array(b, S_DR, 8);
    this.tlb = new Int32Array(b, TLB_OFFSET, TLB_ENTRIES);
    this.tlbPhys = new Int32Array(b, TLB_PHYS_OFFSET, TLB_ENTRIES);
    this.u8 = mem.u8;
    this.u16 = mem.u16;
    this.i32 = mem.i32;
    this.maxCachedInsns = maxCachedInsns(mem.u8.length);
    mem.onMapChange = () => this.flushTlb(true);
    mem.onCodeWrite = (page, offset, length) => this.codeWritten(page, offset, length);
    this.reset();
    makeFieldsMutable(this);
    makeFieldsMutable(this.x87);
  }

  // =============================================================================================
  // Reset and the hv-facing state API

  reset(): void {
    this.regs.fill(0);
    this.regs[4] = 0x600; // EDX: family 6 signature at reset
    this.st[I_FLAGS] = F_FIXED;
    this.lz[LAZY_STALE] = 0;
    this.cr0 = CR0_ET | 0x60000000;
    this.cr2 = 0; this.cr3 = 0; this.cr4 = 0; this.efer = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    for (let s = 0; s < 6; s++) this.setSegReal(s, 0);
    this.setSegRaw(CS, 0xf000, 0xffff0000 | 0, 0xffff, 0x9b);
    this.setSegRaw(LDTR, 0, 0, 0xffff, 0x82);
    this.setSegRaw(TR, 0, 0, 0xffff, 0x8b);
    this.gdtBase = 0; this.gdtLimit = 0xffff;
    this.idtBase = 0; this.idtLimit = 0x3ff;
    this.eip = 0xfff0;
    this.cpl = 0;
    this.pendingVector = -1;
    this.pendingIn = 0;
    this.pendingIns = false;
    this.interruptShadow = false;
    this.irqWindowRequested = false;
    this.exitPending = 0;
    this.mmioWqLen = 0;
    this.mmioReadPending = false;
    this.fragCount = 0;
    this.fragUsed = 0;
    this.x87.reset();
    resetStorage(this.msrModel, this.msrStore);
    // The TSC counts from 0 again (SDM vol. 3 17.17), the SYSENTER MSRs are 0, and nothing of
    // the old DR7's breakpoints stays armed.
    this.tscOffset = -this.instructionCount;
    this.tscBase = 0n;
    this.sysenterCs = 0; this.sysenterEsp = 0; this.sysenterEip = 0;
    this.apicBase = 0xfee00900 | 0;
    this.pendingDebugTrap = 0;
    this.lastBlock = null;
    this.prevBlock = null;
    this.updateMode();
    this.updateDebug();
    this.flushTlb(true);
    this.flushBlocks();
  }

  getRegs(): Regs {
    const r = this.regs;
    return {
      eax: r[0] >>> 0, ecx: r[2] >>> 0, edx: r[4] >>> 0, ebx: r[6] >>> 0,
      esp: r[8] >>> 0, ebp: r[10] >>> 0, esi: r[12] >>> 0, edi: r[14] >>> 0,
      eip: this.eip >>> 0, eflags: this.getFlags() >>> 0,
    };
  }

  setRegs(v: Regs): void {
    const r = this.regs;
    r[0] = v.eax; r[2] = v.ecx; r[4] = v.edx; r[6] = v.ebx;
    r[8] = v.esp; r[10] = v.ebp; r[12] = v.esi; r[14] = v.edi;
    this.eip = v.eip | 0;
    this.setFlagsRaw(v.eflags);
    this.updateMode();
  }

  private segOut(s: number): Segment {
    const ar = this.segAr[s];
    return {
      selector: this.segSel[s], base: this.segBase[s] >>> 0, limit: this.segLimit[s],
      type: ar & 0xf, s: (ar & AR_S) !== 0, dpl: (ar >> 5) & 3, present: (ar & AR_P) !== 0,
      avl: (ar & 0x1000) !== 0, db: (ar & AR_DB) !== 0, g: (ar & AR_G) !== 0,
      unusable: (ar & AR_UNUSABLE) !== 0,
    };
  }

  private segIn(s: number, g: Segment): void {
    const ar = (g.type & 0xf) | (g.s ? AR_S : 0) | ((g.dpl & 3) << 5) | (g.present ? AR_P : 0) |
      (g.avl ? 0x1000 : 0) | (g.db ? AR_DB : 0) | (g.g ? AR_G : 0) | (g.unusable ? AR_UNUSABLE : 0);
    this.setSegRaw(s, g.selector, g.base, g.limit, ar);
  }

  getSregs(): Sregs {
    return {
      es: this.segOut(ES), cs: this.segOut(CS), ss: this.segOut(SS), ds: this.segOut(DS),
      fs: this.segOut(FS), gs: this.segOut(GS), ldt: this.segOut(LDTR), tr: this.segOut(TR),
      gdt: { base: this.gdtBase >>> 0, limit: this.gdtLimit }, idt: { base: this.idtBase >>> 0, limit: this.idtLimit },
      cr0: this.cr0 >>> 0, cr2: this.cr2 >>> 0, cr3: this.cr3 >>> 0, cr4: this.cr4 >>> 0,
      efer: this.efer >>> 0, apicBase: this.apicBase >>> 0,
    };
  }

  setSregs(s: Sregs): void {
    this.segIn(ES, s.es); this.segIn(CS, s.cs); this.segIn(SS, s.ss); this.segIn(DS, s.ds);
    this.segIn(FS, s.fs); this.segIn(GS, s.gs); this.segIn(LDTR, s.ldt); this.segIn(TR, s.tr);
    this.gdtBase = s.gdt.base | 0; this.gdtLimit = s.gdt.limit;
    this.idtBase = s.idt.base | 0; this.idtLimit = s.idt.limit;
    this.cr0 = s.cr0 | 0; this.cr2 = s.cr2 | 0; this.cr3 = s.cr3 | 0; this.cr4 = s.cr4 | 0;
    this.efer = s.efer | 0; this.apicBase = s.apicBase | 0;
    this.cpl = (this.segAr[SS] >> 5) & 3; // as KVM: the CPL of a protected-mode state is SS.DPL
    this.updateMode();
    this.flushTlb(true);
  }

  setCpuid(entries: CpuidEntry[]): void {
    this.cpuid = entries.map((e) => ({ ...e }));
    this.features = leaf1Features(this.cpuid);
    this.cr4Allowed = cr4Allowed(this.cpuid);
    this.msrModel = msrModel(this.cpuid);
    resetStorage(this.msrModel, this.msrStore);
  }

  /** KVM_GET_MSRS; an MSR the model does not have is a RangeError. */
  getMsrs(indices: number[]): MsrEntry[] {
    return indices.map((index) => {
      const value = this.readMsr(index);
      if (value === undefined) throw new RangeError(`MSR 0x${(index >>> 0).toString(16)} does not exist on this CPU model`);
      return { index, value };
    });
  }

  /** KVM_SET_MSRS; an MSR the model does not have, or a value it refuses, is a RangeError. */
  setMsrs(entries: MsrEntry[]): void {
    for (const e of entries) {
      if (!this.writeMsr(e.index, e.value)) throw new RangeError(`MSR 0x${(e.index >>> 0).toString(16)} cannot be written with 0x${e.value.toString(16)}`);
    }
  }

  /** The MSR's value, or undefined when the model does not have it (RDMSR: #GP). */
  readMsr(index: number): bigint | undefined {
    const u = index >>> 0;
    if (msrDef(u, this.msrModel) === undefined) return undefined;
    switch (u) {
      case MSR_TSC: return this.tsc();
      case MSR_APIC_BASE: return BigInt(this.apicBase >>> 0);
      case MSR_SYSENTER_CS: return BigInt(this.sysenterCs >>> 0);
      case MSR_SYSENTER_ESP: return BigInt(this.sysenterEsp >>> 0);
      case MSR_SYSENTER_EIP: return BigInt(this.sysenterEip >>> 0);
      case MSR_EFER: return BigInt(this.efer >>> 0);
      default: return this.msrStore.get(u) ?? 0n;
    }
  }

  /** The time-stamp counter now (RDTSC, RDMSR 0x10). */
  tsc(): bigint {
    const n = this.retired() + this.tscOffset;
    return this.tscBase === 0n && n >= 0 ? BigInt(n) : BigInt.asUintN(64, this.tscBase + BigInt(n));
  }

  /** Write an MSR; false when the model does not have it or refuses the value (WRMSR: #GP). */
  writeMsr(index: number, value: bigint): boolean {
    const u = index >>> 0;
    const d = msrDef(u, this.msrModel);
    if (d === undefined) return false;
    const v = BigInt.asUintN(64, value);
    const lo = Number(BigInt.asUintN(32, v)) | 0;
    switch (u) {
      case MSR_TSC:
        this.tscBase = v - BigInt(this.retired() + this.tscOffset);
        return true;
      case MSR_APIC_BASE: this.apicBase = lo; return true;
      case MSR_SYSENTER_CS: this.sysenterCs = lo & 0xffff; return true;
      case MSR_SYSENTER_ESP: this.sysenterEsp = lo; return true;
      case MSR_SYSENTER_EIP: this.sysenterEip = lo; return true;
      case MSR_EFER:
        if ((v & ~BigInt(EFER_NXE)) !== 0n) return false;
        this.efer = lo;
        this.flushTlb(true);
        return true;
      default:
        if (!writeAllowed(d, v)) return false;
        if (writeTakesEffect(d)) this.msrStore.set(u, v);
        return true;
    }
  }

  canInjectInterrupt(): boolean {
    return (this.st[I_FLAGS] & F_IF) !== 0 && !this.interruptShadow && this.pendingVector < 0;
  }

  injectInterrupt(vector: number): void {
    if (this.pendingVector >= 0) throw new Error('an interrupt is already pending injection');
    this.pendingVector = vector & 0xff;
  }

  // =============================================================================================
  // Mode bookkeeping

  /**
   * Recompute everything derived from CR0, EFLAGS.VM, CS and SS. The CPL is 0 in real mode and 3
   * in virtual-8086 mode; in protected mode it is what the last protected-mode CS load made it
   * (loadSegFromDesc: the RPL of the new CS, which every transfer sets to the new CPL) — not the
   * DPL of CS, which differs in a conforming segment — and stays 0 from CR0.PE being set until
   * then, while CS still holds a real-mode selector.
   */
  updateMode(): void {
    this.pmode = (this.cr0 & CR0_PE) !== 0 && (this.st[I_FLAGS] & F_VM) === 0;
    this.vm86 = (this.cr0 & CR0_PE) !== 0 && (this.st[I_FLAGS] & F_VM) !== 0;
    if (this.vm86) this.cpl = 3;
    else if (!this.pmode) this.cpl = 0;
    this.code32 = (this.segAr[CS] & AR_DB) !== 0 && (this.cr0 & CR0_PE) !== 0 && !this.vm86 ? true : (this.segAr[CS] & AR_DB) !== 0 && !this.vm86;
    this.ipMask = this.code32 ? -1 : 0xffff;
    this.stack32 = (this.segAr[SS] & AR_DB) !== 0 && !this.vm86;
    this.setCpl(this.cpl);
  }

  /** Set the current privilege level and the TLB permission masks that follow from it. */
  setCpl(cpl: number): void {
    this.cpl = cpl;
    // Also reached through updateMode after every CS load and mode change: which block an EIP
    // leads to may have changed (CS base and size, execute permission).
    this.chainEpoch++;
    const user = cpl === 3;
    this.rMask = T_VALID | T_MMIO | (user ? T_UR : 0);
    this.rWant = T_VALID | (user ? T_UR : 0);
    this.wMask = user ? T_UW : T_SW;
    this.wWant = this.wMask;
    this.xMask = this.rMask | T_NX;
    this.xWant = this.rWant;
    // Alignment checking (#AC) and data breakpoints need every data access on the slow path:
    // T_WATCH is never set in a TLB entry, so wanting it makes the fast-path compare fail.
    this.alignCheck = user && (this.cr0 & CR0_AM) !== 0 && (this.st[I_FLAGS] & F_AC) !== 0;
    this.watch = this.alignCheck || this.debugData !== 0;
    if (this.watch) {
      this.rMask |= T_WATCH; this.rWant |= T_WATCH;
      this.wMask |= T_WATCH; this.wWant |= T_WATCH;
    }
  }

  /** Recompute the breakpoint state from DR7 (call after DR7 or CR4.DE change). */
  updateDebug(): void {
    const d7 = this.dr[7];
    let exec = 0, data = 0, io = 0;
    for (let n = 0; n < 4; n++) {
      if (((d7 >> (n * 2)) & 3) === 0) continue;
      const rw = (d7 >>> (16 + n * 4)) & 3;
      if (rw === 0) exec |= 1 << n;
      else if (rw === 2) { if ((this.cr4 & 0x8) !== 0) io |= 1 << n; }
      else data |= 1 << n;
    }
    this.debugExec = exec;
    this.debugData = data;
    this.debugIo = io;
    this.setCpl(this.cpl);
    this.brk = 1; // the next instruction already sees the new breakpoints
  }

  /** Bytes covered by breakpoint n (DR7 LEN field). */
  private bpLen(n: number): number {
    const len = (this.dr[7] >>> (18 + n * 4)) & 3;
    return len === 0 ? 1 : len === 1 ? 2 : len === 3 ? 4 : 8;
  }

  /** Slow-path check of a data access: #AC, data breakpoints. */
  private watchAccess(lin: number, size: number, user: boolean, write: boolean): void {
    if (this.alignCheck && user && (lin & (size - 1)) !== 0) this.raise(AC, 0);
    const data = this.debugData;
    if (data === 0) return;
    for (let n = 0; n < 4; n++) {
      if ((data & (1 << n)) === 0) continue;
      const rw = (this.dr[7] >>> (16 + n * 4)) & 3;
      if (rw === 1 && !write) continue;
      const len = this.bpLen(n);
      const start = this.dr[n] & ~(len - 1);
      if (((lin - start) >>> 0) < len || ((start - lin) >>> 0) < size) {
        this.pendingDebugTrap |= 1 << n;
        this.brk = 1;
        this.stringStop = 1;
      }
    }
  }

  /** I/O breakpoints (DR7 RW=10 with CR4.DE). */
  private watchIo(port: number, size: number): void {
    for (let n = 0; n < 4; n++) {
      if ((this.debugIo & (1 << n)) === 0) continue;
      const len = this.bpLen(n);
      const start = this.dr[n] & 0xffff & ~(len - 1);
      if (((port - start) >>> 0) < len || ((start - port) >>> 0) < size) this.pendingDebugTrap |= 1 << n;
    }
  }

  /** Instruction breakpoints: a #DB fault before the instruction at CS:EIP executes. */
  private checkExecBreakpoints(): void {
    if ((this.st[I_FLAGS] & F_RF) !== 0) return;
    const lin = (this.segBase[CS] + this.eip) | 0;
    let hit = 0;
    for (let n = 0; n < 4; n++) {
      if ((this.debugExec & (1 << n)) !== 0 && this.dr[n] === lin) hit |= 1 << n;
    }
    if (hit !== 0) {
      this.dr[6] = (this.dr[6] & ~0xf) | hit;
      this.raise(DB, -1);
    }
  }

  /** Deliver a debug trap (single step, data/I/O breakpoint, task-switch T bit) after an instruction. */
  private deliverDebugTrap(single: boolean): void {
    const bits = this.pendingDebugTrap | (single ? 0x4000 : 0);
    this.pendingDebugTrap = 0;
    this.dr[6] = (this.dr[6] & ~0xf) | bits;
    this.deliverInterrupt(DB, INT_EXC, -1);
  }

  /** Load a segment cache directly. */
  setSegRaw(s: number, sel: number, base: number, limit: number, ar: number): void {
    this.segSel[s] = sel & 0xffff;
    this.segBase[s] = base | 0;
    this.segLimit[s] = limit >>> 0;
    this.segAr[s] = ar;
    this.deriveSeg(s);
  }

  /** Real-mode / virtual-8086 segment load: base = selector × 16, attributes kept (unreal mode). */
  setSegReal(s: number, sel: number): void {
    this.segSel[s] = sel & 0xffff;
    this.segBase[s] = (sel & 0xffff) << 4;
    if (this.vm86) {
      this.segLimit[s] = 0xffff;
      this.segAr[s] = s === CS ? 0xfb : 0xf3;
    } else if ((this.segAr[s] & AR_P) === 0 || (this.segAr[s] & AR_UNUSABLE) !== 0) {
      this.segLimit[s] = 0xffff;
      this.segAr[s] = s === CS ? 0x9b : 0x93;
    }
    this.deriveSeg(s);
  }

  private deriveSeg(s: number): void {
    const ar = this.segAr[s];
    const limit = this.segLimit[s];
    let rw = 0;
    if ((ar & AR_UNUSABLE) === 0 && (ar & AR_P) !== 0) {
      if ((ar & AR_S) === 0) rw = 3; // system segments (LDT/TSS) are accessed by the core only
      else if ((ar & 8) !== 0) rw = (ar & 2) !== 0 ? 1 : 0; // code: readable?
      else rw = (ar & 2) !== 0 ? 3 : 1; // data: writable?
    }
    if ((this.cr0 & CR0_PE) === 0 || (this.st[I_FLAGS] & F_VM) !== 0) rw = 3; // real mode ignores types
    this.segRW[s] = rw;
    if ((ar & AR_S) !== 0 && (ar & 0xc) === 4) {
      // expand-down data
      this.segMin[s] = limit + 1;
      this.segMax[s] = (ar & AR_DB) !== 0 ? 0xffffffff : 0xffff;
    } else {
      this.segMin[s] = 0;
      this.segMax[s] = limit;
    }
    if (s < 6) {
      // Flat: base 0, the whole 4 GiB, readable and writable (and for SS a 32-bit stack).
      const flat = this.segBase[s] === 0 && this.segMin[s] === 0 && this.segMax[s] === 0xffffffff && rw === 3 &&
        (s !== SS || (ar & AR_DB) !== 0);
      // Big (bit s + 8): the same whatever the base (compiled code adds the base it loads).
      const big = this.segMin[s] === 0 && this.segMax[s] === 0xffffffff && rw === 3;
      let bits = flat ? this.flatBits | (1 << s) : this.flatBits & ~(1 << s);
      bits = big ? bits | (1 << (s + 8)) : bits & ~(1 << (s + 8));
      // Compiled code assumes the flatness it was entered with: end the block when it changes.
      if (bits !== this.flatBits) {
        this.flatBits = bits;
        this.brk = 1;
      }
    }
  }

  // =============================================================================================
  // Flags

  getFlags(): number {
    const lf = this.lz[LAZY_STALE];
    if (lf === 0) return this.st[I_FLAGS];
    let f = this.st[I_FLAGS] & ~lf;
    if (lf & F_CF) f |= this.getCF();
    if (lf & F_PF) f |= PARITY[this.lz[LAZY_RES] & 0xff];
    if (lf & F_AF) f |= this.getAF();
    if (lf & F_ZF) f |= (this.lz[LAZY_RES] & this.lz[LAZY_MASK]) === 0 ? F_ZF : 0;
    if (lf & F_SF) f |= (this.lz[LAZY_RES] & this.lz[LAZY_SIGN]) !== 0 ? F_SF : 0;
    if (lf & F_OF) f |= this.getOF();
    return f;
  }

  /** Materialize the lazy flags into `flags`. */
  materialize(): void {
    if (this.lz[LAZY_STALE] !== 0) {
      this.st[I_FLAGS] = this.getFlags();
      this.lz[LAZY_STALE] = 0;
    }
  }

  /** Set EFLAGS from a value without privilege checks (bit 1 forced, reserved bits cleared). */
  setFlagsRaw(v: number): void {
    this.st[I_FLAGS] = (v & 0x3f7fd5) | F_FIXED;
    this.lz[LAZY_STALE] = 0;
  }

  getCF(): number {
    if ((this.lz[LAZY_STALE] & F_CF) === 0) return this.st[I_FLAGS] & F_CF;
    const m = this.lz[LAZY_MASK];
    switch (this.lz[LAZY_OP]) {
      case L_ADD: return unsignedBelow(this.lz[LAZY_RES] & m, this.lz[LAZY_A] & m, false);
      // With a carry in, the sum carries out when the result is not above the first operand.
      case L_ADC: return unsignedBelow(this.lz[LAZY_RES] & m, this.lz[LAZY_A] & m, this.lz[LAZY_CIN] !== 0);
      case L_SUB: return unsignedBelow(this.lz[LAZY_A] & m, this.lz[LAZY_B] & m, false);
      case L_SBB: return unsignedBelow(this.lz[LAZY_A] & m, this.lz[LAZY_B] & m, this.lz[LAZY_CIN] !== 0);
      default: return 0;
    }
  }

  getOF(): number {
    if ((this.lz[LAZY_STALE] & F_OF) === 0) return this.st[I_FLAGS] & F_OF;
    const a = this.lz[LAZY_A], b = this.lz[LAZY_B], r = this.lz[LAZY_RES], s = this.lz[LAZY_SIGN];
    switch (this.lz[LAZY_OP]) {
      case L_ADD: case L_ADC: return ((a ^ r) & (b ^ r) & s) !== 0 ? F_OF : 0;
      case L_SUB: case L_SBB: return ((a ^ b) & (a ^ r) & s) !== 0 ? F_OF : 0;
      default: return 0;
    }
  }

  getAF(): number {
    if ((this.lz[LAZY_STALE] & F_AF) === 0) return this.st[I_FLAGS] & F_AF;
    if (this.lz[LAZY_OP] === L_LOGIC) return 0;
    return (this.lz[LAZY_A] ^ this.lz[LAZY_B] ^ this.lz[LAZY_RES]) & F_AF;
  }

  getZF(): number {
    if ((this.lz[LAZY_STALE] & F_ZF) === 0) return this.st[I_FLAGS] & F_ZF;
    return (this.lz[LAZY_RES] & this.lz[LAZY_MASK]) === 0 ? F_ZF : 0;
  }

  getSF(): number {
    if ((this.lz[LAZY_STALE] & F_SF) === 0) return this.st[I_FLAGS] & F_SF;
    return (this.lz[LAZY_RES] & this.lz[LAZY_SIGN]) !== 0 ? F_SF : 0;
  }

  getPF(): number {
    if ((this.lz[LAZY_STALE] & F_PF) === 0) return this.st[I_FLAGS] & F_PF;
    return PARITY[this.lz[LAZY_RES] & 0xff];
  }

  /** Record a lazily evaluated arithmetic result. `size` is 1, 2 or 4. */
  setLazy(op: number, a: number, b: number, res: number, size: number, which: number): void {
    if (which !== F_ARITH) {
      // INC/DEC: CF keeps its current value (the only flag outside `which`).
      if ((this.lz[LAZY_STALE] & F_CF) !== 0) this.st[I_FLAGS] = (this.st[I_FLAGS] & ~F_CF) | this.getCF();
    }
    this.lz[LAZY_OP] = op;
    this.lz[LAZY_A] = a;
    this.lz[LAZY_B] = b;
    this.lz[LAZY_RES] = res;
    this.lz[LAZY_MASK] = size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
    this.lz[LAZY_SIGN] = size === 4 ? (0x80000000 | 0) : size === 2 ? 0x8000 : 0x80;
    this.lz[LAZY_STALE] = which;
  }

  /** Write arithmetic flags eagerly: `bits` holds the new values of the flags in `which`. */
  setArith(bits: number, which: number): void {
    const keep = this.lz[LAZY_STALE] & ~which;
    if (keep !== 0) {
      // Derive only the lazy flags this write does not replace.
      const derived = this.getFlags() & keep;
      this.st[I_FLAGS] = (this.st[I_FLAGS] & ~keep) | derived;
    }
    this.lz[LAZY_STALE] = 0;
    this.st[I_FLAGS] = (this.st[I_FLAGS] & ~which) | (bits & which);
  }

  /** SF, ZF and PF of a result, as a flags word. */
  szp(res: number, size: number): number {
    const m = size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
    const s = size === 4 ? (0x80000000 | 0) : size === 2 ? 0x8000 : 0x80;
    return ((res & m) === 0 ? F_ZF : 0) | ((res & s) !== 0 ? F_SF : 0) | PARITY[res & 0xff];
  }

  cond(cc: number): boolean {
    switch (cc) {
      case 0: return this.getOF() !== 0;
      case 1: return this.getOF() === 0;
      case 2: return this.getCF() !== 0;
      case 3: return this.getCF() === 0;
      case 4: return this.getZF() !== 0;
      case 5: return this.getZF() === 0;
      case 6: return (this.getCF() | this.getZF()) !== 0;
      case 7: return (this.getCF() | this.getZF()) === 0;
      case 8: return this.getSF() !== 0;
      case 9: return this.getSF() === 0;
      case 10: return this.getPF() !== 0;
      case 11: return this.getPF() === 0;
      case 12: return (this.getSF() !== 0) !== (this.getOF() !== 0);
      case 13: return (this.getSF() !== 0) === (this.getOF() !== 0);
      case 14: return this.getZF() !== 0 || (this.getSF() !== 0) !== (this.getOF() !== 0);
      default: return this.getZF() === 0 && (this.getSF() !== 0) === (this.getOF() !== 0);
    }
  }

  // =============================================================================================
  // Registers by size

  getReg(r: number, size: number): number {
    if (size === 4) return this.regs[r << 1];
    if (size === 2) return this.regs16[r << 2];
    return this.regs8[BR8[r]];
  }

  setReg(r: number, size: number, v: number): void {
    if (size === 4) this.regs[r << 1] = v;
    else if (size === 2) this.regs16[r << 2] = v;
    else this.regs8[BR8[r]] = v;
  }

  // =============================================================================================
  // Exceptions

  raise(vector: number, error: number): never {
    this.excVector = vector;
    this.excError = error;
    throw FAULT;
  }

  gp(error: number): never { return this.raise(GP, error & 0xffff); }

  /** Stop with an InternalError exit: something the core does not implement. */
  internalError(reason: string): never {
    const x = this.exit;
    x.reason = ExitReason.InternalError;
    x.errCs = this.segSel[CS];
    x.errEip = this.eip >>> 0;
    x.errReason = reason;
    x.errBytes = this.codeBytes(this.eip);
    this.exitPending = ExitReason.InternalError;
    throw EXIT;
  }

  /** Up to 15 bytes of code at CS:eip, as far as they can be read (for error reports). */
  codeBytes(eip: number): number[] {
    const bytes: number[] = [];
    for (let k = 0; k < 15; k++) {
      try {
        bytes.push(this.peekCode(eip, k));
      } catch {
        break;
      }
    }
    return bytes;
  }

  /** A byte of code at CS:eip+k, without side effects beyond the TLB (for error reports). */
  private peekCode(eip: number, k: number): number {
    const lin = (this.segBase[CS] + eip + k) | 0;
    const e = this.tlb[lin >>> 12];
    if ((e & T_VALID) !== 0 && (e & T_MMIO) === 0) return this.u8[(e & -4096) + (lin & 4095)];
    const saved = this.excVector;
    const phys = this.translate(lin, 0, false);
    this.excVector = saved;
    const host = this.mem.pageHost[phys >>> 12];
    if (host < 0) throw FAULT;
    return this.u8[host + (phys & 4095)];
  }

  // =============================================================================================
  // TLB and paging

  flushTlb(all: boolean): void {
    this.chainEpoch++;
    const tlb = this.tlb;
    if (this.tlbListOverflow) {
      if (all || (this.cr4 & CR4_PGE) === 0) {
        tlb.fill(0);
      } else {
        for (let v = 0; v < tlb.length; v++) if ((tlb[v] & T_GLOBAL) === 0) tlb[v] = 0;
      }
      this.tlbListLen = 0;
      this.tlbListOverflow = false;
      if (!all && (this.cr4 & CR4_PGE) !== 0) {
        // Rebuild the list with the surviving global entries.
        for (let v = 0; v < tlb.length; v++) if (tlb[v] !== 0) this.tlbRecord(v);
      }
      return;
    }
    const list = this.tlbList;
    const keepGlobal = !all && (this.cr4 & CR4_PGE) !== 0;
    let kept = 0;
    for (let k = 0; k < this.tlbListLen; k++) {
      const v = list[k];
      if (keepGlobal && (tlb[v] & T_GLOBAL) !== 0) list[kept++] = v;
      else tlb[v] = 0;
    }
    this.tlbListLen = kept;
  }

  invlpg(lin: number): void {
    this.chainEpoch++;
    this.tlb[lin >>> 12] = 0;
  }

  private tlbRecord(vpn: number): void {
    if (this.tlbListLen < TLB_LIST_MAX) this.tlbList[this.tlbListLen++] = vpn;
    else this.tlbListOverflow = true;
  }

  private physRead32(p: number): number {
    const host = this.mem.pageHost[p >>> 12];
    if (host < 0) this.internalError(`page-table access to unmapped physical address 0x${(p >>> 0).toString(16)}`);
    return this.i32[(host + (p & 4095)) >> 2];
  }

  private physWrite32(p: number, v: number): void {
    const host = this.mem.pageHost[p >>> 12];
    const page = p >>> 12;
    if (this.mem.codePage[page] !== 0) this.codeWritten(page, p & 4095, 4);
    this.i32[(host + (p & 4095)) >> 2] = v;
  }

  /**
   * Walk the page tables for `lin`: access 0 read, 1 write, 2 fetch. Raises #PF on a violation,
   * sets accessed/dirty bits, fills the TLB and returns the physical address.
   */
  translate(lin: number, access: number, user: boolean): number {
    const vpn = lin >>> 12;
    let physPage: number;
    let flags = T_VALID | T_SW | T_UR | T_UW;
    if ((this.cr0 & CR0_PG) === 0) {
      physPage = (vpn & (this.mem.a20Mask >>> 12)) >>> 0;
    } else {
      const wp = (this.cr0 & CR0_WP) !== 0;
      const write = access === 1;
      let pteAddr: number;
      let pte: number;
      let uAll = 4, wAll = 2;
      let nx = false;
      if ((this.cr4 & CR4_PAE) !== 0) {
        const nxe = (this.efer & EFER_NXE) !== 0;
        const pdptAddr = ((this.cr3 & ~0x1f) + ((lin >>> 30) << 3)) >>> 0;
        const pdpte = this.physRead32(pdptAddr);
        const pdpteHi = this.physRead32(pdptAddr + 4);
        if ((pdpte & 1) === 0) this.pageFault(lin, access, user, 0);
        if ((pdpteHi & 0x7fffffff) !== 0) this.internalError('PAE page table above 4 GiB');
        const pdeAddr = ((pdpte & ~0xfff) + (((lin >>> 21) & 0x1ff) << 3)) >>> 0;
        const pde = this.physRead32(pdeAddr);
        const pdeHi = this.physRead32(pdeAddr + 4);
        if ((pde & 1) === 0) this.pageFault(lin, access, user, 0);
        if (pdeHi < 0 && !nxe) this.pageFault(lin, access, user, 8);
        if (pdeHi < 0) nx = true;
        uAll &= pde; wAll &= pde;
        if ((pde & 0x80) !== 0) {
          if ((pdeHi & 0x7fffffff) !== 0) this.internalError('PAE page above 4 GiB');
          pteAddr = pdeAddr;
          pte = pde;
          physPage = ((pde & 0xffe00000) >>> 12) + ((lin >>> 12) & 0x1ff);
        } else {
          if ((pde & 0x20) === 0) this.physWrite32(pdeAddr, pde | 0x20);
          pteAddr = ((pde & ~0xfff) + (((lin >>> 12) & 0x1ff) << 3)) >>> 0;
          pte = this.physRead32(pteAddr);
          const pteHi = this.physRead32(pteAddr + 4);
          if ((pte & 1) === 0) this.pageFault(lin, access, user, 0);
          if (pteHi < 0 && !nxe) this.pageFault(lin, access, user, 8);
          if (pteHi < 0) nx = true;
          if ((pteHi & 0x7fffffff) !== 0) this.internalError('PAE page above 4 GiB');
          uAll &= pte; wAll &= pte;
          physPage = pte >>> 12;
        }
      } else {
        const pdeAddr = ((this.cr3 & ~0xfff) + ((lin >>> 22) << 2)) >>> 0;
        const pde = this.physRead32(pdeAddr);
        if ((pde & 1) === 0) this.pageFault(lin, access, user, 0);
        uAll &= pde; wAll &= pde;
        if ((pde & 0x80) !== 0 && (this.cr4 & CR4_PSE) !== 0) {
          pteAddr = pdeAddr;
          pte = pde;
          physPage = ((pde & 0xffc00000) >>> 12) + ((lin >>> 12) & 0x3ff);
        } else {
          if ((pde & 0x20) === 0) this.physWrite32(pdeAddr, pde | 0x20);
          pteAddr = ((pde & ~0xfff) + (((lin >>> 12) & 0x3ff) << 2)) >>> 0;
          pte = this.physRead32(pteAddr);
          if ((pte & 1) === 0) this.pageFault(lin, access, user, 0);
          uAll &= pte; wAll &= pte;
          physPage = pte >>> 12;
        }
      }
      // Permission checks.
      if (user && uAll === 0) this.pageFault(lin, access, user, 1);
      if (write && wAll === 0 && (user || wp)) this.pageFault(lin, access, user, 1);
      if (access === 2 && nx) this.pageFault(lin, access, user, 1);
      // Accessed and dirty bits on the leaf.
      const want = write ? 0x60 : 0x20;
      if ((pte & want) !== want) {
        pte |= want;
        this.physWrite32(pteAddr, pte);
      }
      flags = T_VALID;
      if ((pte & 0x40) !== 0) {
        // Dirty already: writes may take the fast path where permitted.
        if (wAll !== 0 || !wp) flags |= T_SW;
        if (uAll !== 0 && wAll !== 0) flags |= T_UW;
      }
      if (uAll !== 0) flags |= T_UR;
      if ((pte & 0x100) !== 0 && (this.cr4 & CR4_PGE) !== 0) flags |= T_GLOBAL;
      if (nx) flags |= T_NX;
      physPage = (physPage & (this.mem.a20Mask >>> 12)) >>> 0;
    }
    const host = this.mem.pageHost[physPage];
    if (host < 0) {
      flags = (flags | T_MMIO) & ~(T_SW | T_UW);
    } else {
      if (this.mem.codePage[physPage] !== 0) flags = protectCode(flags);
      if (this.mem.pageReadonly[physPage] !== 0) flags &= ~(T_SW | T_UW);
    }
    if (this.tlb[vpn] === 0) this.tlbRecord(vpn);
    this.tlb[vpn] = (host < 0 ? 0 : host) | flags;
    this.tlbPhys[vpn] = physPage;
    return ((physPage << 12) | (lin & 4095)) >>> 0;
  }

  private pageFault(lin: number, access: number, user: boolean, bits: number): never {
    let code = bits;
    if (access === 1) code |= 2;
    if (user) code |= 4;
    if (access === 2 && (this.cr4 & CR4_PAE) !== 0 && (this.efer & EFER_NXE) !== 0) code |= 16;
    this.cr2 = lin;
    return this.raise(PF, code);
  }

  // =============================================================================================
  // Linear memory access (CPL-checked), with the TLB fast path

  readLin8(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.rMask) === this.rWant) return this.u8[(e & -4096) | (lin & 4095)];
    return this.readSlow(lin, 1, this.cpl === 3);
  }

  readLin16(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.rMask) === this.rWant && (lin & 4095) !== 4095) {
      const a = (e & -4096) | (lin & 4095);
      return (a & 1) === 0 ? this.u16[a >> 1] : this.u8[a] | (this.u8[a + 1] << 8);
    }
    return this.readSlow(lin, 2, this.cpl === 3);
  }

  readLin32(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.rMask) === this.rWant && (lin & 4095) <= 4092) {
      const a = (e & -4096) | (lin & 4095);
      if ((a & 3) === 0) return this.i32[a >> 2];
      const u8 = this.u8;
      return u8[a] | (u8[a + 1] << 8) | (u8[a + 2] << 16) | (u8[a + 3] << 24);
    }
    return this.readSlow(lin, 4, this.cpl === 3);
  }

  writeLin8(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & this.wMask) === this.wWant) {
      this.u8[(e & -4096) | (lin & 4095)] = v;
      return;
    }
    this.writeSlow(lin, 1, v, this.cpl === 3);
  }

  writeLin16(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & this.wMask) === this.wWant && (lin & 4095) !== 4095) {
      const a = (e & -4096) | (lin & 4095);
      if ((a & 1) === 0) this.u16[a >> 1] = v;
      else { this.u8[a] = v; this.u8[a + 1] = v >> 8; }
      return;
    }
    this.writeSlow(lin, 2, v, this.cpl === 3);
  }

  writeLin32(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & this.wMask) === this.wWant && (lin & 4095) <= 4092) {
      const a = (e & -4096) | (lin & 4095);
      if ((a & 3) === 0) this.i32[a >> 2] = v;
      else {
        const u8 = this.u8;
        u8[a] = v; u8[a + 1] = v >> 8; u8[a + 2] = v >> 16; u8[a + 3] = v >> 24;
      }
      return;
    }
    this.writeSlow(lin, 4, v, this.cpl === 3);
  }

  /** Supervisor (implicit) accesses to system structures: GDT, LDT, IDT, TSS. */
  readSys8(lin: number): number { return this.readSlow(lin, 1, false); }
  readSys16(lin: number): number { return this.readSlow(lin, 2, false); }
  readSys32(lin: number): number { return this.readSlow(lin, 4, false); }
  writeSys8(lin: number, v: number): void { this.writeSlow(lin, 1, v, false); }
  writeSys16(lin: number, v: number): void { this.writeSlow(lin, 2, v, false); }
  writeSys32(lin: number, v: number): void { this.writeSlow(lin, 4, v, false); }

  /** The physical address for an access, through the TLB when it allows, else a walk. */
  private physFor(lin: number, access: number, user: boolean): number {
    const vpn = lin >>> 12;
    const e = this.tlb[vpn];
    if (e !== 0) {
      const ok = access === 1
        ? (e & (user ? T_UW | T_CUW : T_SW | T_CSW)) !== 0
        : (e & T_VALID) !== 0 && (!user || (e & T_UR) !== 0) && (access !== 2 || (e & T_NX) === 0);
      if (ok) return ((this.tlbPhys[vpn] << 12) | (lin & 4095)) >>> 0;
    }
    return this.translate(lin, access, user);
  }

  private readSlow(lin: number, size: number, user: boolean): number {
    if (this.watch && size > 0) this.watchAccess(lin, size, user, false);
    if (((lin & 4095) + size) > 4096) {
      let v = 0;
      for (let k = 0; k < size; k++) v |= this.physRead(this.physFor((lin + k) | 0, 0, user), 1) << (k * 8);
      return v;
    }
    const phys = this.physFor(lin, 0, user);
    return this.physRead(phys, size);
  }

  physRead(phys: number, size: number): number {
    const host = this.mem.pageHost[phys >>> 12];
    if (host < 0) return this.mmioRead(phys, size);
    const a = host + (phys & 4095);
    const u8 = this.u8;
    if (size === 1) return u8[a];
    if (size === 2) return u8[a] | (u8[a + 1] << 8);
    return u8[a] | (u8[a + 1] << 8) | (u8[a + 2] << 16) | (u8[a + 3] << 24);
  }

  private writeSlow(lin: number, size: number, v: number, user: boolean): void {
    if (this.watch) this.watchAccess(lin, size, user, true);
    if (((lin & 4095) + size) > 4096) {
      // Check both pages before writing any byte, so a fault leaves memory unchanged.
      const p1 = this.physFor(lin, 1, user);
      const p2 = this.physFor((lin + size - 1) | 0, 1, user);
      const first = 4096 - (lin & 4095);
      for (let k = 0; k < size; k++) {
        const p = k < first ? p1 + k : ((p2 & ~4095) + (k - first)) >>> 0;
        this.physWrite(p, 1, (v >> (k * 8)) & 0xff);
      }
      return;
    }
    const phys = this.physFor(lin, 1, user);
    this.physWrite(phys, size, v);
  }

  physWrite(phys: number, size: number, v: number): void {
    const page = phys >>> 12;
    const host = this.mem.pageHost[page];
    if (host < 0) {
      this.mmioWrite(phys, size, v);
      return;
    }
    if (this.mem.pageReadonly[page] !== 0) return; // ROM: writes are dropped
    if (this.mem.codePage[page] !== 0) this.codeWritten(page, phys & 4095, size);
    const a = host + (phys & 4095);
    const u8 = this.u8;
    u8[a] = v;
    if (size > 1) {
      u8[a + 1] = v >> 8;
      if (size > 2) { u8[a + 2] = v >> 16; u8[a + 3] = v >> 24; }
    }
  }

  private mmioRead(phys: number, size: number): number {
    const k = this.fragUsed;
    if (k < this.fragCount) {
      if (this.fragAddr[k] === phys && this.fragSize[k] === size) {
        this.fragUsed = k + 1;
        // A REP string instruction ends its execution with this element: the next element's
        // reads are new ones.
        if (k + 1 === this.fragCount) this.stringStop = 1;
        return this.fragData[k];
      }
      // The re-execution went another way (the monitor changed the state in between): the
      // reads so far no longer apply.
      this.fragCount = this.fragUsed = 0;
    }
    if (this.fragCount >= MAX_MMIO_READS) this.internalError(`more than ${MAX_MMIO_READS} MMIO reads in one instruction`);
    const x = this.exit;
    x.reason = ExitReason.Mmio;
    x.insnEip = this.eip;
    x.mmioAddr = phys;
    x.mmioSize = size;
    x.mmioWrite = false;
    x.mmioData = 0;
    this.mmioReadPending = true;
    this.exitPending = ExitReason.Mmio;
    throw EXIT;
  }

  private mmioWrite(phys: number, size: number, v: number): void {
    if (this.mmioWqLen >= 8) this.internalError('more than 8 MMIO writes in one instruction');
    const k = ((this.mmioWqHead + this.mmioWqLen) & 7) * 4;
    this.mmioWq[k] = phys;
    this.mmioWq[k + 1] = size;
    this.mmioWq[k + 2] = v >>> 0;
    this.mmioWq[k + 3] = this.eip;
    this.mmioWqLen++;
    this.brk = 1;
    this.stringStop = 1;
  }

  // =============================================================================================
  // Segmented access

  /** Linear address of seg:off for an access of `size` bytes; checks limits and rights. */
  lin(seg: number, off: number, size: number, write: boolean): number {
    // A flat segment (base 0, 4 GiB, readable and writable): only an access running past
    // 0xFFFFFFFF is outside the limit, and one of at most 16 bytes must start in the last 16 to
    // do so. Decided in int32 arithmetic that runs on every call: `off >>> 0` below yields
    // numbers above 2^31, and an expression evaluated only for the top half of the address space
    // has no type feedback until then; either way V8 would deoptimise when the kernel's addresses
    // above 2 GiB first arrive.
    if (((this.flatBits >> seg) & 1) !== 0 && size <= 16 && (off >> 4) !== -1) return off | 0;
    const o = off >>> 0;
    if ((this.segRW[seg] & (write ? 2 : 1)) === 0 || o < this.segMin[seg] || o + size - 1 > this.segMax[seg]) {
      this.segFault(seg);
    }
    return (this.segBase[seg] + off) | 0;
  }

  private segFault(seg: number): never {
    if (seg === SS) return this.raise(SSF, 0);
    return this.gp(0);
  }

  read8(seg: number, off: number): number { return this.readLin8(this.lin(seg, off, 1, false)); }
  read16(seg: number, off: number): number { return this.readLin16(this.lin(seg, off, 2, false)); }
  read32(seg: number, off: number): number { return this.readLin32(this.lin(seg, off, 4, false)); }
  write8(seg: number, off: number, v: number): void { this.writeLin8(this.lin(seg, off, 1, true), v); }
  write16(seg: number, off: number, v: number): void { this.writeLin16(this.lin(seg, off, 2, true), v); }
  write32(seg: number, off: number, v: number): void { this.writeLin32(this.lin(seg, off, 4, true), v); }

  readMem(seg: number, off: number, size: number): number {
    if (size === 4) return this.read32(seg, off);
    if (size === 2) return this.read16(seg, off);
    return this.read8(seg, off);
  }

  writeMem(seg: number, off: number, size: number, v: number): void {
    if (size === 4) this.write32(seg, off, v);
    else if (size === 2) this.write16(seg, off, v);
    else this.write8(seg, off, v);
  }

  /** Check that seg:off..+size is writable (faults now) without writing. */
  probeWrite(seg: number, off: number, size: number): void {
    const lin = this.lin(seg, off, size, true);
    const e = this.tlb[lin >>> 12];
    if ((e & this.wMask) !== this.wWant) this.physFor(lin, 1, this.cpl === 3);
    if (((lin & 4095) + size) > 4096) this.physFor((lin + size - 1) | 0, 1, this.cpl === 3);
  }

  // --- stack

  push(v: number, size: number): void {
    const sp = this.stack32 ? (this.regs[ESP << 1] - size) | 0 : (this.regs16[ESP << 2] - size) & 0xffff;
    this.writeMem(SS, sp, size, v);
    if (this.stack32) this.regs[ESP << 1] = sp;
    else this.regs16[ESP << 2] = sp;
  }

  pop(size: number): number {
    const sp = this.stack32 ? this.regs[ESP << 1] : this.regs16[ESP << 2];
    const v = this.readMem(SS, sp, size);
    if (this.stack32) this.regs[ESP << 1] = (sp + size) | 0;
    else this.regs16[ESP << 2] = sp + size;
    return v;
  }

  /** Read the stack `depth` bytes above ESP without popping. */
  peek(depth: number, size: number): number {
    const sp = this.stack32 ? (this.regs[ESP << 1] + depth) | 0 : (this.regs16[ESP << 2] + depth) & 0xffff;
    return this.readMem(SS, sp, size);
  }

  adjustSp(delta: number): void {
    if (this.stack32) this.regs[ESP << 1] = (this.regs[ESP << 1] + delta) | 0;
    else this.regs16[ESP << 2] = this.regs16[ESP << 2] + delta;
  }

  // =============================================================================================
  // Code fetch (used by the decoder)

  /** The byte at CS:eip+k, with the CS limit and execute permission checked. */
  fetchCode(off: number): number {
    const o = off >>> 0;
    if ((o > this.segMax[CS] || o < this.segMin[CS]) && (this.cr0 & CR0_PE) !== 0) this.gp(0);
    const lin = (this.segBase[CS] + off) | 0;
    const e = this.tlb[lin >>> 12];
    if ((e & this.xMask) === this.xWant) return this.u8[(e & -4096) | (lin & 4095)];
    const phys = this.translate(lin, 2, this.cpl === 3);
    const host = this.mem.pageHost[phys >>> 12];
    if (host < 0) this.internalError(`instruction fetch from MMIO at physical 0x${phys.toString(16)}`);
    return this.u8[host + (phys & 4095)];
  }

  // =============================================================================================
  // Blocks

  private flushBlocks(): void {
    // The records of every block are free again (only blocks that decoded their own: a tail
    // block shares them): the decoder reuses them instead of allocating (a guest that fills the
    // cache again and again otherwise made the collector's old space grow to 175 MiB for 25 MiB
    // live).
    const pool = this.insnPool;
    for (const b of this.blocks.values()) {
      if (b.decoded === b.insns.length && pool.length + b.decoded <= this.maxCachedInsns) {
        for (const i of b.insns) pool.push(i);
      }
      dropBlock(b);
    }
    this.blocks.clear();
    this.blockCache.fill(undefined);
    this.codePages.length = 0;
    this.cachedInsns = 0;
    this.mem.codePage.fill(0);
  }

  /**
   * Bytes `offset .. offset + length` of code page `page` were written (by the guest, a
   * page-table update or the monitor). Only the blocks whose bytes the write overlaps are
   * dropped, so data that shares a page with code (a stack below the code, variables after it)
   * costs a slow-path write, not the page's decoded code. A page whose code keeps being
   * rewritten runs uncached for a while (see lookupBlock). Sets `brk` when a block was dropped:
   * the one running may be among them.
   */
  private codeWritten(page: number, offset: number, length: number): void {
    const cp = this.codePages[page];
    if (cp === undefined) {
      this.mem.codePage[page] = 0;
      return;
    }
    const end = offset + length;
    if (!cp.covers(offset, end)) return;
    const blocks = cp.blocks;
    let kept = 0;
    cp.bits.fill(0);
    for (let k = 0; k < blocks.length; k++) {
      const b = blocks[k];
      if (b.lo < end && offset < b.hi) {
        this.forgetBlock(b);
      } else {
        blocks[kept++] = b;
        cp.cover(b.lo, b.hi);
      }
    }
    blocks.length = kept;
    this.brk = 1;
    if (++cp.hits >= VOLATILE_AFTER) {
      // Self-modifying code: stop caching this page for a while.
      for (const b of blocks) this.forgetBlock(b);
      blocks.length = 0;
      cp.hits = 0;
      // Each time again the page stays uncached twice as long.
      cp.volatile = cp.nextVolatile;
      if (cp.nextVolatile < VOLATILE_RUNS_MAX) cp.nextVolatile *= 2;
      this.codeStats.volatilePages++;
    }
    if (blocks.length === 0) this.unprotectPage(page);
  }

  /** Drop a cached block (its page's list is the caller's). */
  private forgetBlock(b: Block): void {
    if (this.blocks.get(b.key) === b) this.blocks.delete(b.key);
    this.cachedInsns -= b.decoded;
    dropBlock(b);
  }

  /** Cache block `b` of `page`, which decoded `decoded` new instruction records. */
  private registerBlock(b: Block, page: number, decoded: number): void {
    let cp = this.codePages[page];
    if (cp === undefined) {
      cp = new CodePage();
      this.codePages[page] = cp;
    }
    cp.blocks.push(b);
    cp.cover(b.lo, b.hi);
    b.decoded = decoded;
    this.cachedInsns += decoded;
    if (this.mem.codePage[page] === 0) {
      this.mem.codePage[page] = 1;
      // Writes to this page must now take the slow path: drop write permission from the TLB.
      this.forEachTlbEntryOf(page, protectCode);
    }
  }

  /** The page holds no cached code any more: writes may take the fast path again. */
  private unprotectPage(page: number): void {
    this.mem.codePage[page] = 0;
    this.forEachTlbEntryOf(page, unprotectCode);
  }

  /** Rewrite the flags of every TLB entry that maps guest-physical page `page`. */
  private forEachTlbEntryOf(page: number, change: (flags: number) => number): void {
    const host = this.mem.pageHost[page];
    const tlb = this.tlb;
    if (this.tlbListOverflow) {
      for (let v = 0; v < tlb.length; v++) {
        if (tlb[v] !== 0 && this.tlbPhys[v] === page) tlb[v] = change(tlb[v]);
      }
    } else {
      for (let k = 0; k < this.tlbListLen; k++) {
        const v = this.tlbList[k];
        if (tlb[v] !== 0 && (tlb[v] & -4096) === host && this.tlbPhys[v] === page) tlb[v] = change(tlb[v]);
      }
    }
  }

  private getBlock(): Block {
    // The successor cache of the block before: no translation, limit or cache lookup.
    const prev = this.prevBlock;
    if (prev !== null && prev.succEpoch === this.chainEpoch) {
      const s0 = prev.succ0;
      if (s0 !== null && prev.succ0Eip === this.eip && s0.valid) return s0;
      const s1 = prev.succ1;
      if (s1 !== null && prev.succ1Eip === this.eip && s1.valid) return s1;
    }
    const b = this.lookupBlock();
    if (prev !== null && b.cacheable) {
      if (prev.succEpoch !== this.chainEpoch) {
        prev.succEpoch = this.chainEpoch;
        prev.succ1 = null;
      } else {
        prev.succ1 = prev.succ0;
        prev.succ1Eip = prev.succ0Eip;
      }
      prev.succ0 = b;
      prev.succ0Eip = this.eip;
    }
    return b;
  }

  private lookupBlock(): Block {
    const lin = (this.segBase[CS] + this.eip) | 0;
    const e = this.tlb[lin >>> 12];
    let phys: number;
    if ((e & this.xMask) === this.xWant && (this.eip >>> 0) <= this.segMax[CS]) {
      phys = ((this.tlbPhys[lin >>> 12] << 12) | (lin & 4095)) >>> 0;
    } else {
      // Checks the limit and the page, raising the fault at this instruction.
      this.fetchCode(this.eip);
      phys = ((this.tlbPhys[lin >>> 12] << 12) | (lin & 4095)) >>> 0;
    }
    const key = phys * 2 + (this.code32 ? 1 : 0);
    // A direct-mapped cache in front of the Map (most lookups hit it).
    const slot = ((phys >>> 1) ^ (phys >>> 13)) & (BLOCK_CACHE_SIZE - 1);
    const hit = this.blockCache[slot];
    if (hit !== undefined && hit.key === key && hit.valid) return hit;
    const cached = this.blocks.get(key);
    if (cached !== undefined) {
      this.blockCache[slot] = cached;
      return cached;
    }
    const page = phys >>> 12;
    const cp = this.codePages[page];
    if (cp !== undefined && cp.volatile > 0) {
      // A page whose code keeps changing: one instruction at a time, decoded afresh, not cached
      // (so its writes need no tracking), until VOLATILE_RUNS have run.
      cp.volatile--;
      this.codeStats.singleDecodes++;
      return decodeSingle(this, this.eip, this.code32, this.scratch);
    }
    if (this.cachedInsns > this.maxCachedInsns || this.blocks.size >= MAX_CACHED_BLOCKS) {
      this.codeStats.flushes++;
      this.flushBlocks();
      this.flushTlb(true);
    }
    // Resuming inside the block that ran last (after an exit, a fault, an interrupt): its
    // decoded instructions from here on make the new block.
    const last = this.lastBlock;
    if (last !== null && last.valid && last.cacheable && last.key >= 0 && (last.key & 1) === (key & 1) &&
        Math.floor(last.key / 8192) === page && (phys & 4095) > last.lo && (phys & 4095) < last.hi) {
      const k = last.insnAt(phys & 4095);
      if (k > 0) {
        const b = tailBlock(last, k, this.eip, this.code32, key);
        this.codeStats.tailBlocks++;
        this.blocks.set(key, b);
        this.blockCache[slot] = b;
        this.registerBlock(b, page, 0);
        return b;
      }
    }
    this.codeStats.blocksDecoded++;
    const b = decodeBlock(this, this.eip, this.code32, key);
    if (b.cacheable) {
      this.blocks.set(key, b);
      this.blockCache[slot] = b;
      this.registerBlock(b, page, b.insns.length);
    }
    return b;
  }

  // =============================================================================================
  // The run loop

  run(budget: number, exit: ExitRecord): void {
    this.exit = exit;
    this.prevBlock = null;
    const start = this.instructionCount;
    // The budget is spent by retired instructions and by exception deliveries, each one step:
    // a fault whose handler faults again (or a fault loop through the IVT) retires nothing,
    // and must still leave run() when the budget is used. A delivery also takes a cycle of
    // guest time: the TSC moves on with it at once (so what RDTSC reads does not depend on
    // where run() ends), and the monitor's clock with exit.deliveries.
    this.runLimit = start + budget;
    this.runDeliveries = 0;
    this.exitPending = 0;
    if (this.mmioReadPending || this.pendingIn !== 0) this.guarded(this.completeStep);
    if (this.exitPending === 0 && this.mmioWqLen > 0) this.nextMmioWriteExit(exit);
    if (this.exitPending === 0 && this.fragCount > 0) {
      // The instruction whose MMIO read left run() is completed first, with the data, before
      // an interrupt the monitor injected meanwhile (as KVM completes an emulated instruction).
      this.guarded(this.replayStep);
      if (!this.mmioReadPending) this.fragCount = this.fragUsed = 0;
      if (this.exitPending === 0 && this.mmioWqLen > 0) this.nextMmioWriteExit(exit);
    }
    if (this.exitPending === 0 && this.pendingVector >= 0) {
      this.guarded(this.injectStep);
      // A delivery that pushed its frame to MMIO leaves run() with those writes first.
      if (this.exitPending === 0 && this.mmioWqLen > 0) this.nextMmioWriteExit(exit);
    }
    while (this.exitPending === 0) {
      if (this.irqWindowRequested && (this.st[I_FLAGS] & F_IF) !== 0 && !this.interruptShadow) {
        this.exitPending = ExitReason.IrqWindowOpen;
        break;
      }
      if (this.instructionCount >= this.runLimit) {
        this.exitPending = ExitReason.Budget;
        break;
      }
      this.guarded(this.runChain);
      if (this.mmioWqLen > 0 && this.exitPending === 0) this.nextMmioWriteExit(exit);
    }
    if (this.curBlock !== null) this.lastBlock = this.curBlock;
    this.curBlock = null;
    exit.reason = this.exitPending;
    exit.instructions = this.instructionCount - start;
    exit.deliveries = this.runDeliveries;
    exit.interruptsEnabled = (this.st[I_FLAGS] & F_IF) !== 0;
    exit.readyForInterruptInjection = this.canInjectInterrupt();
  }

  // The steps of run() that guarded() runs, bound once (no closure per run).
  /** Blocks up to run()'s limit. */
  private readonly runChain = (): void => this.runBlock(this.runLimit);
  /** The data of an IN or an MMIO read the monitor supplied. */
  private readonly completeStep = (): void => this.completePending(this.exit);
  /** The instruction whose MMIO read left run(), once more, alone. */
  private readonly replayStep = (): void => this.runBlock(this.instructionCount + 1);
  /** The interrupt the monitor injected (KVM_INTERRUPT). */
  private readonly injectStep = (): void => {
    const v = this.pendingVector;
    this.pendingVector = -1;
    this.interruptShadow = false;
    this.deliverInterrupt(v, INT_EXT, -1);
  };

  /**
   * Run `work`; a guest exception it raises is delivered (one step of the budget and a cycle of
   * guest time), an exit it signals is left for run(), anything else becomes an InternalError.
   */
  private guarded(work: () => void): void {
    try {
      work();
    } catch (e) {
      if (e === FAULT) {
        this.deliverFault();
        this.runDeliveries++;
        this.runLimit--;
        this.tscOffset++;
      } else if (e !== EXIT) {
        const msg = e instanceof Error ? e.message : String(e);
        try {
          this.internalError(`core error: ${msg}`);
        } catch (e2) {
          if (e2 !== EXIT) throw e2;
        }
        if (process.env.VMRUN_DEBUG && e instanceof Error) console.error(e.stack);
      }
    }
  }

  private nextMmioWriteExit(x: ExitRecord): void {
    const k = this.mmioWqHead * 4;
    x.reason = ExitReason.Mmio;
    x.mmioAddr = this.mmioWq[k];
    x.mmioSize = this.mmioWq[k + 1];
    x.mmioData = this.mmioWq[k + 2];
    x.insnEip = this.mmioWq[k + 3];
    x.mmioWrite = true;
    this.mmioWqHead = (this.mmioWqHead + 1) & 7;
    this.mmioWqLen--;
    this.exitPending = ExitReason.Mmio;
  }

  private completePending(x: ExitRecord): void {
    if (this.mmioReadPending) {
      this.mmioReadPending = false;
      const k = this.fragCount++;
      this.fragAddr[k] = x.mmioAddr;
      this.fragSize[k] = x.mmioSize;
      this.fragData[k] = x.mmioData;
      this.fragUsed = 0;
    }
    if (this.pendingIn !== 0) {
      const size = this.pendingIn;
      this.pendingIn = 0;
      const v = x.ioData[0];
      if (!this.pendingIns) {
        this.setReg(0, size, v);
        return;
      }
      this.pendingIns = false;
      const a32 = this.pendingInsAsz === 4;
      const di = a32 ? this.regs[14] : this.regs16[28];
      this.writeMem(ES, di, size, v);
      const step = (this.st[I_FLAGS] & 0x400) !== 0 ? -size : size;
      if (a32) this.regs[14] = (di + step) | 0;
      else this.regs16[28] = di + step;
      if (this.pendingInsRep) {
        const c = a32 ? (this.regs[2] - 1) | 0 : (this.regs16[4] - 1) & 0xffff;
        if (a32) this.regs[2] = c;
        else this.regs16[4] = c;
        if (c !== 0) return; // the INS runs again
      }
      this.eip = (this.eip + this.pendingInsLen) & this.ipMask;
    }
  }

  /**
   * Execute blocks one after another until one sets `brk` (an exit, a mode or interrupt-flag
   * change, SMC) or the budget is used. Everything run() checks between blocks (IF, the STI/MOV SS
   * shadow, TF, breakpoints) can only change through an instruction that sets `brk`.
   */
  private runBlock(limit: number): void {
    // What the common case must not have — an interrupt shadow, TF, RF, instruction breakpoints —
    // changes only through an instruction that sets brk, which ends this loop: it is looked at
    // once, and again after each block the interpreter ran (execBlock clears RF).
    let plain = this.plainState();
    this.brk = 0;
    do {
      const block = this.getBlock();
      // The common case: room in the budget for the whole block, and the block compiled (or
      // hot enough to be compiled now). Anything else is execBlock's: the interpreter.
      let fn = block.compiled;
      if (plain && limit - this.instructionCount >= block.insns.length) {
        if (fn === undefined && ++block.execCount >= (block.selfLoop ? JIT_LOOP_THRESHOLD : JIT_THRESHOLD)) {
          const t0 = performance.now();
          fn = block.compiled = compileBlockWasm(this, block, this.code32, JIT_REGION_MIN);
          this.codeStats.compileMs += performance.now() - t0;
          this.codeStats.unitsCompiled++;
        }
        if (typeof fn === 'function') {
          this.curBlock = block;
          this.curEntry = this.eip;
          let done: boolean;
          try {
            done = fn(this, limit);
          } catch (e) {
            // EIP is at the instruction that faulted (or exited) in the block the compiled code
            // was running (curBlock, entered at curEntry): count those before it. That block did
            // not end normally, so nothing follows it in the successor cache.
            this.instructionCount += this.curBlock!.indexOf(this.eip, this.curEntry, this.ipMask);
            this.prevBlock = null;
            throw e;
          }
          if (done) {
            this.prevBlock = this.curBlock;
            if (this.pendingDebugTrap !== 0) this.deliverDebugTrap(false);
            continue;
          }
          // Declined, having done nothing (a segment it assumed flat no longer is).
        }
      }
      this.execBlock(block, limit);
      plain = this.plainState();
    } while (this.brk === 0 && this.instructionCount < limit);
  }

  /** No interrupt shadow, TF, RF or instruction breakpoint: blocks may run whole, compiled. */
  private plainState(): boolean {
    return !this.interruptShadow && (this.st[I_FLAGS] & (F_TF | F_RF)) === 0 && this.debugExec === 0;
  }

  /**
   * Instructions retired up to the current one. instructionCount is brought up to date once per
   * block; inside a block the current instruction's position (from EIP) is added.
   */
  retired(): number {
    const b = this.curBlock;
    return b === null ? this.instructionCount : this.instructionCount + b.indexOf(this.eip, this.curEntry, this.ipMask);
  }

  private execBlock(block: Block, limit: number): void {
    // Until this block ends normally, nothing follows it in the successor cache.
    this.prevBlock = null;
    this.curBlock = block;
    this.curEntry = this.eip;
    const insns = block.insns;
    // In an STI / MOV SS shadow only one instruction runs before interrupts are looked at again.
    const shadow = this.interruptShadow;
    // Single-step (TF) and breakpoints run one instruction at a time with the debug checks.
    const stepping = (this.st[I_FLAGS] & F_TF) !== 0 || this.debugExec !== 0;
    // After the shadowed instruction run() must look at interrupts again: end the chain there.
    this.brk = shadow ? 1 : 0;
    this.interruptShadow = false;
    if ((this.st[I_FLAGS] & F_RF) !== 0 && this.debugExec === 0) this.st[I_FLAGS] &= ~F_RF;
    if (stepping) {
      this.stepOne(insns[0], shadow);
      return;
    }
    // Run at most what the budget allows (the caller guarantees room for one), counting the
    // retired instructions once: a fault leaves k at the faulting instruction, not retired.
    const room = limit - this.instructionCount;
    const n = shadow ? 1 : insns.length < room ? insns.length : room;
    let k = 0;
    try {
      for (; k < n; k++) {
        const i = insns[k];
        this.nextEip = (this.eip + i.len) & this.ipMask;
        i.handler(this, i);
        this.eip = this.nextEip;
        if (this.brk !== 0) {
          k++;
          break;
        }
      }
    } finally {
      this.instructionCount += k;
    }
    this.prevBlock = block;
    if (this.pendingDebugTrap !== 0) this.deliverDebugTrap(false);
  }

  /** One instruction with the debug checks: instruction breakpoints, single-step and data traps. */
  private stepOne(i: Insn, shadow: boolean): void {
    if (this.debugExec !== 0) this.checkExecBreakpoints();
    const tf = (this.st[I_FLAGS] & F_TF) !== 0;
    this.nextEip = (this.eip + i.len) & this.ipMask;
    i.handler(this, i);
    this.eip = this.nextEip;
    this.instructionCount++;
    this.st[I_FLAGS] &= ~F_RF;
    // INT n / INT3 / INTO / ICEBP clear TF on delivery and take no single-step trap; a MOV SS /
    // POP SS shadow defers it past the next instruction.
    const softInt = i.op === 0xcc || i.op === 0xcd || i.op === 0xce || i.op === 0xf1;
    const single = tf && !softInt && !this.interruptShadow && !shadow;
    if (single || this.pendingDebugTrap !== 0) this.deliverDebugTrap(single);
  }

  /** I/O exit produced by an IN/OUT-class instruction. */
  ioExit(port: number, size: number, isIn: boolean, value: number): void {
    if (this.debugIo !== 0) this.watchIo(port, size);
    const x = this.exit;
    x.insnEip = this.eip;
    x.ioPort = port & 0xffff;
    x.ioSize = size;
    x.ioIn = isIn;
    x.ioCount = 1;
    x.ioData[0] = isIn ? 0 : value >>> 0;
    this.exitPending = ExitReason.Io;
    this.brk = 1;
  }

  hltExit(): void {
    this.exitPending = ExitReason.Hlt;
    this.brk = 1;
  }

  // =============================================================================================
  // Exception and interrupt delivery

  private deliverFault(): void {
    // The handler returns into the middle of this block, usually (see lookupBlock).
    if (this.curBlock !== null) this.lastBlock = this.curBlock;
    let vector = this.excVector;
    let error = this.excError;
    if (TRACE_EXCEPTIONS) console.error(`vmrun: exception ${vector} err ${error.toString(16)} at ${this.segSel[CS].toString(16)}:${(this.eip>>>0).toString(16)} cr2 ${(this.cr2>>>0).toString(16)} esp ${(this.regs[8]>>>0).toString(16)} cpl ${this.cpl}`);
    let tries = 0;
    for (;;) {
      try {
        this.deliverInterrupt(vector, INT_EXC, error);
        return;
      } catch (e) {
        if (e === EXIT) return; // an internal error while delivering: the exit is already set
        if (e !== FAULT) throw e;
        const second = this.excVector;
        if (TRACE_EXCEPTIONS) console.error(`vmrun:   during delivery of ${vector}: exc ${second} err ${this.excError.toString(16)} cr2 ${(this.cr2>>>0).toString(16)} esp ${(this.regs[8]>>>0).toString(16)} tr ${this.segSel[TR].toString(16)} base ${(this.segBase[TR]>>>0).toString(16)} lim ${this.segLimit[TR]}`);
        if (vector === DF || ++tries > 3) {
          this.exitPending = ExitReason.Shutdown;
          return;
        }
        const contributory = (v: number) => v === 0 || (v >= 10 && v <= 13);
        if ((contributory(vector) && contributory(second)) ||
            (vector === PF && (contributory(second) || second === PF))) {
          vector = DF;
          error = 0;
        } else {
          vector = second;
          error = this.excError;
        }
      }
    }
  }

  /**
   * Deliver interrupt `vector`. `kind`: INT_EXT (external, returns to EIP), INT_SOFT (INT n,
   * returns to nextEip, gate DPL checked), INT_EXC (exception; faults return to EIP — trap-type
   * exceptions set EIP to the next instruction before raising).
   */
  deliverInterrupt(vector: number, kind: number, error: number): void {
    const ret = kind === INT_SOFT || kind === INT_ICEBP ? this.nextEip : this.eip;
    this.materialize();
    if ((this.cr0 & CR0_PE) === 0) {
      const off = vector << 2;
      if (off + 3 > this.idtLimit) this.gp(0);
      const ip = this.readSys16((this.idtBase + off) | 0);
      const cs = this.readSys16((this.idtBase + off + 2) | 0);
      this.push(this.st[I_FLAGS] & 0xffff, 2);
      this.push(this.segSel[CS], 2);
      this.push(ret & 0xffff, 2);
      this.st[I_FLAGS] &= ~(F_IF | F_TF | F_AC | F_RF);
      this.setSegReal(CS, cs);
      this.eip = ip;
      this.nextEip = ip;
      this.updateMode();
      this.brk = 1;
      return;
    }
    this.deliverProtected(vector, kind, error, ret);
  }

  private deliverProtected(vector: number, kind: number, error: number, ret: number): void {
    const ext = kind === INT_EXT || kind === INT_EXC ? 1 : 0;
    if ((vector << 3) + 7 > this.idtLimit) this.gp((vector << 3) | 2 | ext);
    const lo = this.readSys32((this.idtBase + (vector << 3)) | 0);
    const hi = this.readSys32((this.idtBase + (vector << 3) + 4) | 0);
    const type = (hi >> 8) & 0x1f;
    const gateDpl = (hi >> 13) & 3;
    if (kind === INT_SOFT && gateDpl < this.cpl) this.gp((vector << 3) | 2);
    // A fault (any exception but #DB, whose faults are instruction breakpoints here) saves
    // EFLAGS with RF = 1, so that the handler's IRET does not break on the instruction again
    // (Intel SDM vol. 3, 17.3.1.1 "Instruction-Breakpoint Exception Condition").
    const rf = kind === INT_EXC && vector !== DB ? F_RF : 0;
    if (type === 0x05) {
      if ((hi & 0x8000) === 0) this.raise(NP, (vector << 3) | 2 | ext);
      taskSwitch(this, lo >>> 16, TASK_INT, ret, error, ext, rf);
      return;
    }
    if (type !== 0x06 && type !== 0x07 && type !== 0x0e && type !== 0x0f) this.gp((vector << 3) | 2 | ext);
    if ((hi & 0x8000) === 0) this.raise(NP, (vector << 3) | 2 | ext);
    const gate32 = (type & 8) !== 0;
    const isTrap = (type & 1) !== 0;
    const sel = lo >>> 16;
    const offset = gate32 ? (hi & 0xffff0000) | (lo & 0xffff) : lo & 0xffff;
    if ((sel & 0xfffc) === 0) this.gp(ext);
    this.readDescriptor(sel, ext);
    const dlo = this.descLo, dhi = this.descHi, csAddr = this.descAddr;
    const dar = (dhi >> 8) & 0xf0ff;
    const ddpl = (dar >> 5) & 3;
    if ((dar & AR_S) === 0 || (dar & 8) === 0 || ddpl > this.cpl) this.gp((sel & 0xfffc) | ext);
    if ((dar & AR_P) === 0) this.raise(NP, (sel & 0xfffc) | ext);
    const conforming = (dar & 4) !== 0;
    const size = gate32 ? 4 : 2;
    const inner = !conforming && ddpl < this.cpl;
    const fromVm = this.vm86;
    if (fromVm && (!inner || ddpl !== 0)) this.gp((sel & 0xfffc) | ext);
    // Everything that can fault is checked before anything changes, so that a fault is taken
    // with the interrupted state (SDM vol. 3, 6.12.1, and the INT n pseudocode).
    const frame = ((inner ? (fromVm ? 9 : 5) : 3) + (error >= 0 ? 1 : 0)) * size;
    let newSs = 0, newEsp = 0, sslo = 0, sshi = 0, ssAddr = 0;
    if (inner) {
      this.tssStack(ddpl, ext);
      newSs = this.tssSs;
      newEsp = this.tssEsp;
      if ((newSs & 0xfffc) === 0) this.raise(TS, ext);
      this.readDescriptor(newSs, ext, TS);
      sslo = this.descLo; sshi = this.descHi; ssAddr = this.descAddr;
      const ssar = (sshi >> 8) & 0xf0ff;
      if ((newSs & 3) !== ddpl || ((ssar >> 5) & 3) !== ddpl || (ssar & AR_S) === 0 || (ssar & 8) !== 0 || (ssar & 2) === 0) {
        this.raise(TS, (newSs & 0xfffc) | ext);
      }
      if ((ssar & AR_P) === 0) this.raise(SSF, (newSs & 0xfffc) | ext);
      if (!descRoom(sslo, sshi, newEsp, frame)) this.raise(SSF, (newSs & 0xfffc) | ext);
    } else {
      const sp = this.stack32 ? this.regs[ESP << 1] >>> 0 : this.regs16[ESP << 2];
      if (sp < frame || sp - frame < this.segMin[SS] || sp - 1 > this.segMax[SS]) this.raise(SSF, ext);
    }
    const target = gate32 ? offset : offset & 0xffff;
    if ((target >>> 0) > descLimit(dlo, dhi)) this.gp(ext);

    const oldFlags = this.st[I_FLAGS] | rf;
    const oldCs = this.segSel[CS];
    if (inner) {
      // The inner stack from the TSS; the pushes are made at the new privilege level.
      const oldSs = this.segSel[SS];
      const oldEsp = this.regs[ESP << 1];
      this.descAddr = ssAddr;
      this.loadSegFromDesc(SS, newSs, sslo, sshi);
      // A 16-bit stack gets SP only; ESP's upper half stays as it was (as in Bochs, and as
      // IRET and RETF to a 16-bit stack do on real processors).
      if ((sshi & 0x400000) !== 0) this.regs[ESP << 1] = newEsp;
      else this.regs16[ESP << 2] = newEsp;
      this.st[I_FLAGS] &= ~F_VM;
      this.updateMode();
      this.setCpl(ddpl);
      if (fromVm) {
        this.push(this.segSel[GS], size);
        this.push(this.segSel[FS], size);
        this.push(this.segSel[DS], size);
        this.push(this.segSel[ES], size);
        for (let s = ES; s <= GS; s++) if (s !== CS && s !== SS) this.setSegRaw(s, 0, 0, 0, AR_UNUSABLE);
      }
      this.push(oldSs, size);
      this.push(oldEsp, size);
    }
    this.push(oldFlags, size);
    this.push(oldCs, size);
    this.push(ret, size);
    if (error >= 0) this.push(error, size);
    this.descAddr = csAddr;
    this.loadSegFromDesc(CS, (sel & 0xfffc) | this.cpl, dlo, dhi);
    this.st[I_FLAGS] &= ~(F_TF | F_NT | F_RF | F_VM);
    if (!isTrap) this.st[I_FLAGS] &= ~F_IF;
    this.eip = target;
    this.nextEip = target;
    this.updateMode();
    this.brk = 1;
  }

  /** SS and ESP for privilege level `level` from the current TSS (#TS when beyond its limit). */
  tssSs = 0;
  tssEsp = 0;
  tssStack(level: number, ext: number): void {
    const trType = this.segAr[TR] & 0xf;
    const base = this.segBase[TR];
    if ((trType & 8) !== 0) {
      const off = 4 + level * 8;
      if (off + 5 > this.segLimit[TR]) this.raise(TS, (this.segSel[TR] & 0xfffc) | ext);
      this.tssEsp = this.readSys32((base + off) | 0);
      this.tssSs = this.readSys16((base + off + 4) | 0);
      return;
    }
    const off = 2 + level * 4;
    if (off + 3 > this.segLimit[TR]) this.raise(TS, (this.segSel[TR] & 0xfffc) | ext);
    this.tssEsp = this.readSys16((base + off) | 0);
    this.tssSs = this.readSys16((base + off + 2) | 0);
  }

  // =============================================================================================
  // Descriptors

  descLo = 0;
  descHi = 0;
  /** Linear address of the last descriptor read. */
  descAddr = 0;

  /**
   * Read the descriptor for `sel` into descLo/descHi (and its address into descAddr); the fault
   * `vector` (#GP, or #TS for a stack from the TSS) with the selector when outside its table.
   */
  readDescriptor(sel: number, ext: number, vector = GP): void {
    let base: number, limit: number;
    if ((sel & 4) !== 0) {
      if ((this.segAr[LDTR] & AR_UNUSABLE) !== 0 || (this.segAr[LDTR] & AR_P) === 0) this.raise(vector, (sel & 0xfffc) | ext);
      base = this.segBase[LDTR];
      limit = this.segLimit[LDTR];
    } else {
      base = this.gdtBase;
      limit = this.gdtLimit;
    }
    const off = sel & 0xfff8;
    if (off + 7 > limit) this.raise(vector, (sel & 0xfffc) | ext);
    this.descAddr = (base + off) | 0;
    this.descLo = this.readSys32(this.descAddr);
    this.descHi = this.readSys32((this.descAddr + 4) | 0);
  }

  /**
   * Load a segment cache from a descriptor pair, setting its accessed bit in memory. Loading CS
   * makes the selector's RPL the CPL (callers pass the new CPL in it).
   */
  loadSegFromDesc(s: number, sel: number, lo: number, hi: number): void {
    if (s === CS) this.cpl = sel & 3;
    if ((hi & 0x1000) !== 0 && (hi & 0x100) === 0) {
      hi |= 0x100;
      this.writeSys32((this.descAddr + 4) | 0, hi);
    }
    const base = (lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000);
    let limit = (lo & 0xffff) | (hi & 0xf0000);
    if ((hi & 0x800000) !== 0) limit = ((limit << 12) | 0xfff) >>> 0;
    this.setSegRaw(s, sel, base, limit, (hi >> 8) & 0xf0ff);
  }

  /** MOV/POP to a data segment register or SS, with protected-mode checks. */
  loadSeg(s: number, sel: number): void {
    sel &= 0xffff;
    if (!this.pmode) {
      this.setSegReal(s, sel);
      if (s === SS) this.updateMode();
      return;
    }
    if ((sel & 0xfffc) === 0) {
      if (s === SS) this.gp(0);
      this.setSegRaw(s, sel, 0, 0, AR_UNUSABLE);
      return;
    }
    this.readDescriptor(sel, 0);
    const lo = this.descLo, hi = this.descHi;
    const ar = (hi >> 8) & 0xff;
    const dpl = (ar >> 5) & 3;
    const rpl = sel & 3;
    if (s === SS) {
      if (rpl !== this.cpl || dpl !== this.cpl || (ar & AR_S) === 0 || (ar & 8) !== 0 || (ar & 2) === 0) this.gp(sel & 0xfffc);
      if ((ar & AR_P) === 0) this.raise(SSF, sel & 0xfffc);
    } else {
      if ((ar & AR_S) === 0 || ((ar & 8) !== 0 && (ar & 2) === 0)) this.gp(sel & 0xfffc);
      const conformingCode = (ar & 0xc) === 0xc;
      if (!conformingCode && (rpl > dpl || this.cpl > dpl)) this.gp(sel & 0xfffc);
      if ((ar & AR_P) === 0) this.raise(NP, sel & 0xfffc);
    }
    this.loadSegFromDesc(s, sel, lo, hi);
    if (s === SS) this.updateMode();
  }
}

export type Handler = (cpu: Cpu, i: import('./decoder.js').Insn) => void;

/** A page's decoded blocks, the 16-byte granules of the page their instructions occupy, and how
 * often writes have hit them. */
class CodePage {
  readonly blocks: Block[] = [];
  readonly bits = new Int32Array(8);
  /** Writes that dropped blocks here since the page was last cached afresh. */
  hits = 0;
  /** > 0: the page is volatile and runs this many more instructions uncached. */
  volatile = 0;
  /** How long it stays uncached the next time it turns volatile. */
  nextVolatile = VOLATILE_RUNS;

  cover(lo: number, hi: number): void {
    for (let g = lo >> 4; g <= (hi - 1) >> 4; g++) this.bits[g >> 5] |= 1 << (g & 31);
  }

  covers(lo: number, hi: number): boolean {
    for (let g = lo >> 4; g <= (hi - 1) >> 4; g++) if ((this.bits[g >> 5] & (1 << (g & 31))) !== 0) return true;
    return false;
  }
}

/** Mark a dropped block: no cache returns it, and it holds on to nothing. */
function dropBlock(b: Block): void {
  b.valid = false;
  b.succ0 = null;
  b.succ1 = null;
  if (typeof b.compiled === 'function') releaseCompiled(b.compiled);
  b.compiled = null;
  const units = b.units;
  if (units !== null) {
    // Compiled units that included this block's instructions are compiled again when hot.
    b.units = null;
    for (const u of units) {
      if (u.valid && u.compiled !== null) {
        if (typeof u.compiled === 'function') releaseCompiled(u.compiled);
        u.compiled = undefined;
        u.execCount = 0;
      }
    }
  }
}

/** TLB flags of a page with decoded code: no fast-path writes, the permissions kept aside. */
function protectCode(flags: number): number {
  if ((flags & T_CODE) !== 0) return flags;
  return (flags | T_CODE | ((flags & T_SW) !== 0 ? T_CSW : 0) | ((flags & T_UW) !== 0 ? T_CUW : 0)) & ~(T_SW | T_UW);
}

/** TLB flags of a page whose decoded code is gone: the write permissions back. */
function unprotectCode(flags: number): number {
  if ((flags & T_CODE) === 0) return flags;
  return (flags | ((flags & T_CSW) !== 0 ? T_SW : 0) | ((flags & T_CUW) !== 0 ? T_UW : 0)) & ~(T_CODE | T_CSW | T_CUW);
}

/** The byte limit of a code or data descriptor (lo, hi), with G applied. */
export function descLimit(lo: number, hi: number): number {
  let limit = (lo & 0xffff) | (hi & 0xf0000);
  if ((hi & 0x800000) !== 0) limit = ((limit << 12) | 0xfff) >>> 0;
  return limit;
}

/**
 * Whether `bytes` can be pushed below `esp` on the stack segment of descriptor (lo, hi): the
 * offsets esp-bytes .. esp-1 (SP for a 16-bit segment, not wrapping below 0) are valid for it,
 * expand-up or expand-down.
 */
export function descRoom(lo: number, hi: number, esp: number, bytes: number): boolean {
  const big = (hi & 0x400000) !== 0;
  const sp = big ? esp >>> 0 : esp & 0xffff;
  const limit = descLimit(lo, hi);
  const down = (hi & 0x1c00) === 0x1400;
  const min = down ? limit + 1 : 0;
  const max = down ? (big ? 0xffffffff : 0xffff) : limit;
  return sp >= bytes && sp - bytes >= min && sp - 1 <= max;
}
