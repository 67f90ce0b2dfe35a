// The machine's memory: one WebAssembly.Memory holding the vCPU's state, its TLB and guest RAM, so
// that the TypeScript interpreter (through typed-array views) and compiled WebAssembly code (through
// loads and stores at these offsets) read and write the same bytes in place, and a whole-machine
// snapshot is one copy of one buffer.
//
// This file is the one source of truth for where everything lives. The register file is laid out
// for 64-bit mode: sixteen 8-byte general registers (RAX..R15, little-endian, so a 32-bit register
// is the low half), an 8-byte RIP and RFLAGS, and sixteen 16-byte XMM registers. 32-bit code uses
// the low halves.
//
//   0x00000   state (STATE_SIZE bytes; offsets S_* below)
//   0x10000   TLB: 1 M × i32, indexed by linear page (see cpu.ts, T_* bits)
//   0x410000  TLB physical pages: 1 M × i32
//   0x810000  guest RAM (the VM's host memory; its offset 0 is RAM_OFFSET here)

export const WASM_PAGE = 65536;

/** Bytes of the state area at offset 0. */
export const STATE_SIZE = 0x10000;
/** The TLB: 2^20 entries of 4 bytes. */
export const TLB_OFFSET = STATE_SIZE;
export const TLB_ENTRIES = 1 << 20;
export const TLB_PHYS_OFFSET = TLB_OFFSET + TLB_ENTRIES * 4;
/** Where the VM's host memory (guest RAM and ROM) starts. */
export const RAM_OFFSET = TLB_PHYS_OFFSET + TLB_ENTRIES * 4;
/** wasm32 memories address at most 4 GiB. */
export const MAX_RAM = 0x1_0000_0000 - RAM_OFFSET - WASM_PAGE;

// --- the state area (byte offsets)
/** 16 general registers × 8 bytes: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15. */
export const S_GPR = 0x000;
export const GPR_COUNT = 16;
/** RIP (8 bytes), RFLAGS (8 bytes). */
export const S_RIP = 0x080;
export const S_RFLAGS = 0x088;
/** The lazy-flag record: 8 × i32 (see LAZY_* indices). */
export const S_LAZY = 0x090;
/** Segment caches, 8 entries each (ES CS SS DS FS GS LDTR TR). */
export const SEG_COUNT = 8;
export const S_SEG_SEL = 0x0c0; // i32
export const S_SEG_BASE = 0x0e0; // i32, the low 32 bits of the base
export const S_SEG_BASE_HI = 0x100; // i32, the high 32 bits (FS/GS/TR/LDTR bases in long mode)
export const S_SEG_AR = 0x120; // i32, VMX-style access rights
export const S_SEG_RW = 0x140; // u8: bit 0 readable, bit 1 writable
export const S_SEG_LIMIT = 0x180; // f64, byte-granular limit
export const S_SEG_MIN = 0x1c0; // f64, lowest valid offset
export const S_SEG_MAX = 0x200; // f64, highest valid offset
/** Control registers and scalars: 8 bytes each. */
export const S_CR0 = 0x240;
export const S_CR2 = 0x248;
export const S_CR3 = 0x250;
export const S_CR4 = 0x258;
export const S_CR8 = 0x260;
export const S_EFER = 0x268;
/** Debug registers DR0..DR7: i32 each (8 × 4 bytes; 64-bit mode widens them later). */
export const S_DR = 0x280;
/** 16 XMM registers × 16 bytes, then MXCSR. */
export const S_XMM = 0x400;
export const XMM_COUNT = 16;
export const S_MXCSR = 0x500;

/** Scratch cells of the WebAssembly block compiler (wasm-jit.ts): i32 × 8. */
export const S_JIT = 0x600;

/** Index of EFLAGS in an Int32Array over the whole state area (Cpu.st). */
export const I_FLAGS = S_RFLAGS >> 2;

/** Indices into the i32 lazy-flag record at S_LAZY. */
export const LAZY_OP = 0;
export const LAZY_A = 1;
export const LAZY_B = 2;
export const LAZY_RES = 3;
export const LAZY_CIN = 4;
export const LAZY_MASK = 5;
export const LAZY_SIGN = 6;
export const LAZY_STALE = 7;

/** Byte offset, within S_GPR, of 8-bit register r (AL CL DL BL AH CH DH BH) in legacy encoding. */
export const BYTE_REG_OFFSET: readonly number[] = [0, 8, 16, 24, 1, 9, 17, 25];
/** Index of 32-bit register r in an Int32Array over S_GPR (the low half of its 8 bytes). */
export const gpr32 = (r: number): number => r << 1;
/** Index of 16-bit register r in a Uint16Array over S_GPR. */
export const gpr16 = (r: number): number => r << 2;

/** Bytes of a machine memory with `ramBytes` of guest RAM, rounded to whole wasm pages. */
export function machineMemoryBytes(ramBytes: number): number {
  return Math.ceil((RAM_OFFSET + ramBytes) / WASM_PAGE) * WASM_PAGE;
}

/** Allocate the one memory of a machine with `ramBytes` of host memory for guest RAM and ROM. */
export function allocateMachineMemory(ramBytes: number): WebAssembly.Memory {
  if (!(ramBytes >= 0) || ramBytes > MAX_RAM) {
    throw new RangeError(`host memory of ${ramBytes} bytes does not fit one WebAssembly memory (at most ${MAX_RAM})`);
  }
  const pages = machineMemoryBytes(ramBytes) / WASM_PAGE;
  return new WebAssembly.Memory({ initial: pages, maximum: pages });
}
