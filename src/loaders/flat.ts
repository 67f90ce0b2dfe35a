// Flat binary loader: a file in no known format is copied to memory as it is and entered the way
// a PC BIOS enters a boot sector, unless --load-addr, --entry or --bits say otherwise.

import { LoadError, type EntryState, type LoadOptions, type LoadResult } from './types.js';

/** Where a BIOS loads the boot sector, and so the default load address and entry point. */
export const BOOT_SECTOR_ADDR = 0x7c00;
/** DL at entry: the BIOS drive number of the first hard disk, as a BIOS hands it over. */
export const BOOT_DRIVE = 0x80;
/** ESP at entry: just below the default load address (SS = 0 in real mode). */
export const INITIAL_STACK = 0x7c00;

const hex = (n: number): string => '0x' + n.toString(16);

/**
 * The real-mode CS:IP for a linear entry address below 1 MiB. CS takes the 64 KiB-aligned part of
 * the address (cs = (entry >>> 4) & 0xF000) and IP the rest, so IP has the most room to run
 * forward; 0x7C00 gives the BIOS's 0000:7C00.
 */
export function realModeEntry(entry: number): { cs: number; ip: number } {
  const cs = (entry >>> 4) & 0xf000;
  return { cs, ip: entry - cs * 16 };
}

function checkAddress(name: string, what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new LoadError(`${name}: ${what} ${value} is not a valid address`);
}

/**
 * Load a flat binary.
 * - Default: at 0x7C00, real mode at 0000:7C00, DL = 0x80, SS:SP = 0000:7C00.
 * - loadAddr (--load-addr) moves the image; entry (--entry) defaults to the load address.
 * - bits 32 (--bits 32) enters in flat 32-bit protected mode at entry (ESP = 0x7C00);
 *   bits 16 enters in real mode, which needs an entry below 1 MiB.
 */
export function loadFlat(opts: LoadOptions): LoadResult {
  const name = opts.kernelPath;
  const size = opts.kernel.length;
  const loadAddr = opts.loadAddr ?? BOOT_SECTOR_ADDR;
  const entryAddr = opts.entry ?? loadAddr;
  const bits = opts.bits ?? 16;
  checkAddress(name, 'load address', loadAddr);
  checkAddress(name, 'entry point', entryAddr);
  if (opts.initrd !== undefined) {
    throw new LoadError(`${name}: a flat binary takes no --initrd (it is for multiboot and Linux kernels)`);
  }
  if (loadAddr + size > opts.memorySize) {
    throw new LoadError(
      `${name}: ${size} bytes loaded at ${hex(loadAddr)} do not fit in guest RAM (${opts.memorySize} bytes = ${hex(opts.memorySize)})`,
    );
  }
  if (entryAddr >= opts.memorySize) {
    throw new LoadError(`${name}: entry point ${hex(entryAddr)} is outside guest RAM (${opts.memorySize} bytes)`);
  }

  let entry: EntryState;
  let how: string;
  if (bits === 16) {
    if (entryAddr > 0xfffff) {
      throw new LoadError(`${name}: real-mode entry point ${hex(entryAddr)} is above 1 MiB (use --bits 32)`);
    }
    const { cs, ip } = realModeEntry(entryAddr);
    entry = { kind: 'real', cs, ip };
    how = `real mode ${cs.toString(16).padStart(4, '0')}:${ip.toString(16).padStart(4, '0')}`;
  } else if (bits === 32) {
    entry = { kind: 'flat32', eip: entryAddr };
    how = `32-bit protected mode at ${hex(entryAddr)}`;
  } else {
    throw new LoadError(`${name}: --bits must be 16 or 32, not ${String(bits)}`);
  }

  return {
    format: 'flat',
    chunks: [{ addr: loadAddr, data: opts.kernel }],
    entry,
    regs: bits === 16 ? { edx: BOOT_DRIVE, esp: INITIAL_STACK } : { esp: INITIAL_STACK },
    description: `flat binary ${name}: ${size} bytes at ${hex(loadAddr)}, ${how}`,
  };
}
