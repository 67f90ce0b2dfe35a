// What a loader hands the machine: bytes to copy into guest-physical memory and how to enter.
// A loader never touches the CPU or the VM; the machine applies a LoadResult through the hv API.

export interface LoadChunk {
  /** Guest-physical address. */
  addr: number;
  data: Uint8Array;
}

/**
 * How the vCPU starts.
 * - real: real mode at cs:ip (segment bases = selector * 16), as a BIOS hands over a boot sector.
 * - flat32: 32-bit protected mode, paging off, CS a flat 4 GiB execute/read code segment
 *   (selector 0x08) and DS/ES/FS/GS/SS flat read/write data (selector 0x10), as multiboot
 *   and the Linux 32-bit boot protocol specify. Interrupts disabled.
 */
export type EntryState =
  | { kind: 'real'; cs: number; ip: number }
  | { kind: 'flat32'; eip: number };

export type GprName = 'eax' | 'ebx' | 'ecx' | 'edx' | 'esi' | 'edi' | 'esp' | 'ebp';

export interface LoadResult {
  /** 'multiboot', 'flat', 'bzimage', … */
  format: string;
  chunks: LoadChunk[];
  entry: EntryState;
  /** Initial general-purpose registers (others start at 0). */
  regs: Partial<Record<GprName, number>>;
  /** One line describing what was loaded where, for --stats and traces. */
  description: string;
}

export interface LoadOptions {
  kernel: Uint8Array;
  kernelPath: string;
  /** --initrd: for multiboot, the module(s); for bzImage, the initramfs. */
  initrd?: Uint8Array;
  initrdPath?: string;
  /** The kernel command line (--append); undefined when not given (each loader has its default). */
  cmdline?: string;
  /** Bytes of guest RAM, mapped from guest-physical 0. */
  memorySize: number;
  /** Flat binaries: --load-addr, --entry, --bits. */
  loadAddr?: number;
  entry?: number;
  bits?: 16 | 32;
}

/** Bad input: not a kernel, malformed, does not fit. The CLI prints the message and exits 2. */
export class LoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadError';
  }
}
