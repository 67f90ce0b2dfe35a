// Kernel loading: recognise the image format by its content and hand it to that format's loader.

import { hasLinuxMarks, loadBzImage } from './bzimage.js';
import { loadFlat } from './flat.js';
import { damagedMultibootMagic, hasMultibootMagic, isElf, loadMultiboot, MULTIBOOT_HEADER_MAGIC, MULTIBOOT_SEARCH_LIMIT } from './multiboot.js';
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

/**
 * A Linux boot-protocol image: the "HdrS" setup header magic at 0x202. The loader checks the rest
 * (the 0xAA55 boot flag, the protocol version, the fields) and says what is wrong.
 */
export function isBzImage(kernel: Uint8Array): boolean {
  return (
    kernel.length >= 0x206 &&
    kernel[0x202] === 0x48 && // H
    kernel[0x203] === 0x64 && // d
    kernel[0x204] === 0x72 && // r
    kernel[0x205] === 0x53 // S
  );
}

const hex = (n: number): string => '0x' + n.toString(16);

/**
 * Known formats, tried in order; the first whose detect() accepts the file loads it. Multiboot
 * comes first: a multiboot kernel is usually also an ELF file. A file no format claims is a flat
 * binary, unless it carries the other marks of a known format (damagedFormat).
 */
const FORMATS: readonly KernelFormat[] = [
  { name: 'multiboot', detect: hasMultibootMagic, load: loadMultiboot },
  { name: 'bzimage', detect: isBzImage, load: loadBzImage },
  {
    name: 'elf',
    detect: isElf,
    load(opts) {
      throw new LoadError(
        `${opts.kernelPath}: an ELF file without a multiboot header (no magic ${hex(MULTIBOOT_HEADER_MAGIC)} in its first ${MULTIBOOT_SEARCH_LIMIT} bytes): ` +
          'vmrun boots ELF kernels through multiboot only',
      );
    },
  },
];

/** An ELF header with a damaged magic: three of its four bytes, and class, data, version, e_version and e_ehsize agree. */
function hasElfMarks(b: Uint8Array): boolean {
  if (b.length < 52) return false;
  const magic = [0x7f, 0x45, 0x4c, 0x46].filter((m, i) => b[i] === m).length;
  if (magic < 3) return false;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = b[5] === 1;
  if (!le && b[5] !== 2) return false;
  // e_ehsize: at 40 in ELF32 (52 bytes), at 52 in ELF64 (64 bytes).
  const ehsizeOk = b[4] === 1 ? dv.getUint16(40, le) === 52 : b[4] === 2 && b.length >= 64 && dv.getUint16(52, le) === 64;
  return ehsizeOk && b[6] === 1 && dv.getUint32(20, le) === 1;
}

/**
 * Why a file no format claims still is not a flat binary: it carries the marks of a known format
 * whose magic was damaged (one line naming the format and the check), or null.
 */
export function damagedFormat(kernel: Uint8Array): string | null {
  const mb = damagedMultibootMagic(kernel);
  if (mb !== null) {
    return (
      `a multiboot header at offset ${hex(mb.offset)} with a damaged magic: its flags and checksum belong to the magic ` +
      `${hex(MULTIBOOT_HEADER_MAGIC)}, the file has ${hex(mb.found)}`
    );
  }
  if (hasLinuxMarks(kernel)) {
    const found = [...kernel.subarray(0x202, 0x206)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    return `a Linux kernel image (boot flag 0xAA55, setup header layout, protocol version) whose "HdrS" magic at 0x202 is damaged (bytes ${found})`;
  }
  if (hasElfMarks(kernel)) {
    const found = [...kernel.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    return `an ELF file whose magic is damaged (bytes ${found}, not 7f 45 4c 46)`;
  }
  return null;
}

/** The name of the format loadKernel() would use for this file: 'multiboot', 'bzimage', 'elf', 'damaged' or 'flat'. */
export function detectFormat(kernel: Uint8Array): string {
  return FORMATS.find((f) => f.detect(kernel))?.name ?? (damagedFormat(kernel) !== null ? 'damaged' : 'flat');
}

/**
 * Load a kernel image, whatever its format. Throws LoadError (the CLI exits 2) when the file is
 * empty, malformed, of a format not supported yet, damaged, or does not fit in guest RAM.
 */
export function loadKernel(opts: LoadOptions): LoadResult {
  const name = opts.kernelPath;
  if (!Number.isSafeInteger(opts.memorySize) || opts.memorySize <= 0) {
    throw new LoadError(`memory size ${opts.memorySize} is not a positive number of bytes`);
  }
  if (opts.kernel.length === 0) throw new LoadError(`${name}: file is empty`);

  const forced = opts.loadAddr !== undefined || opts.entry !== undefined || opts.bits !== undefined;
  const format = FORMATS.find((f) => f.detect(opts.kernel));
  if (format === undefined) {
    if (!forced) {
      const damaged = damagedFormat(opts.kernel);
      if (damaged !== null) {
        throw new LoadError(`${name}: not loadable: ${damaged} (give --bits, --load-addr or --entry to run it as a flat binary anyway)`);
      }
      if (looksLikeText(opts.kernel)) {
        throw new LoadError(
          `${name}: not a kernel: no multiboot or Linux boot header, no boot-sector signature, and it reads as text ` +
            '(give --bits, --load-addr or --entry to run it as a flat binary anyway)',
        );
      }
    }
    return checked(loadFlat(opts), opts);
  }
  if (forced) {
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
