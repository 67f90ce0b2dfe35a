// Kernel loading: recognise the image format by its content and hand it to that format's loader.

import { loadBzImage } from './bzimage.js';
import { loadFlat } from './flat.js';
import { hasMultibootMagic, isElf, loadMultiboot } from './multiboot.js';
import { LoadError, type LoadOptions, type LoadResult } from './types.js';

export * from './types.js';
export { loadFlat } from './flat.js';
export { loadMultiboot } from './multiboot.js';

/** One image format: how to recognise it and how to load it. */
interface KernelFormat {
  readonly name: string;
  detect(kernel: Uint8Array): boolean;
  load(opts: LoadOptions): LoadResult;
}

/** A Linux boot-protocol image: boot sector signature 0xAA55 at 0x1FE and "HdrS" at 0x202. */
export function isBzImage(kernel: Uint8Array): boolean {
  return (
    kernel.length >= 0x206 &&
    kernel[0x1fe] === 0x55 &&
    kernel[0x1ff] === 0xaa &&
    kernel[0x202] === 0x48 && // H
    kernel[0x203] === 0x64 && // d
    kernel[0x204] === 0x72 && // r
    kernel[0x205] === 0x53 // S
  );
}

function notSupportedYet(name: string, detect: (kernel: Uint8Array) => boolean, what: string): KernelFormat {
  return {
    name,
    detect,
    load(opts) {
      throw new LoadError(`${opts.kernelPath}: not supported yet: ${what}`);
    },
  };
}

/**
 * Known formats, tried in order; the first whose detect() accepts the file loads it. Multiboot
 * comes first: a multiboot kernel is usually also an ELF file. A file no format claims is a flat
 * binary.
 */
const FORMATS: readonly KernelFormat[] = [
  { name: 'multiboot', detect: hasMultibootMagic, load: loadMultiboot },
  { name: 'bzimage', detect: isBzImage, load: loadBzImage },
  notSupportedYet('elf', isElf, 'ELF kernel without a multiboot header'),
];

/** The name of the format loadKernel() would use for this file: 'multiboot', 'bzimage', 'elf' or 'flat'. */
export function detectFormat(kernel: Uint8Array): string {
  return FORMATS.find((f) => f.detect(kernel))?.name ?? 'flat';
}

/**
 * Load a kernel image, whatever its format. Throws LoadError (the CLI exits 2) when the file is
 * empty, malformed, of a format not supported yet, or does not fit in guest RAM.
 */
export function loadKernel(opts: LoadOptions): LoadResult {
  const name = opts.kernelPath;
  if (!Number.isSafeInteger(opts.memorySize) || opts.memorySize <= 0) {
    throw new LoadError(`memory size ${opts.memorySize} is not a positive number of bytes`);
  }
  if (opts.kernel.length === 0) throw new LoadError(`${name}: file is empty`);

  const format = FORMATS.find((f) => f.detect(opts.kernel));
  if (format === undefined) {
    const forced = opts.loadAddr !== undefined || opts.entry !== undefined || opts.bits !== undefined;
    if (!forced && looksLikeText(opts.kernel)) {
      throw new LoadError(
        `${name}: not a kernel: no multiboot or Linux boot header, no boot-sector signature, and it reads as text ` +
          '(give --bits, --load-addr or --entry to run it as a flat binary anyway)',
      );
    }
    return checked(loadFlat(opts), opts);
  }
  if (opts.loadAddr !== undefined || opts.entry !== undefined || opts.bits !== undefined) {
    throw new LoadError(`${name}: a ${format.name} kernel; --load-addr, --entry and --bits apply only to flat binaries`);
  }
  return checked(format.load(opts), opts);
}

/** Every loader checks its own ranges; this is the last guard before bytes reach guest memory. */
function checked(result: LoadResult, opts: LoadOptions): LoadResult {
  for (const c of result.chunks) {
    if (c.addr < 0 || c.addr + c.data.length > opts.memorySize) {
      throw new LoadError(
        `${opts.kernelPath}: ${c.data.length} bytes at 0x${c.addr.toString(16)} do not fit in guest RAM (${opts.memorySize} bytes)`,
      );
    }
  }
  return result;
}

/**
 * A file no format claims is normally a flat binary; but one without the 0x55 0xAA boot-sector
 * signature whose first bytes are all printable text (a README, a shell script, a config) is
 * surely a mistake, and running it would only spin or fault.
 */
function looksLikeText(b: Uint8Array): boolean {
  if (b.length >= 512 && b[510] === 0x55 && b[511] === 0xaa) return false;
  const head = b.subarray(0, Math.min(b.length, 512));
  let text: string;
  try {
    // Valid UTF-8 (a multi-byte character cut at the end of the window is allowed).
    text = new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
  } catch {
    return false;
  }
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x20 && c !== 9 && c !== 10 && c !== 13) return false;
    if (c === 0x7f) return false;
  }
  return true;
}
