// Linux x86 bzImage loader: the 32-bit boot protocol of Documentation/arch/x86/boot.rst,
// header versions 2.02 and later.
//
// The real-mode setup code in the first (setup_sects + 1) sectors never runs. vmrun does what that
// code and a BIOS would have done, the way kvmtool, Firecracker and QEMU's direct boot do: it
// builds the boot_params "zero page" (the setup header copied from the file, an e820 memory map,
// the command line, the initramfs), loads the protected-mode kernel and enters it at code32_start
// in flat 32-bit protected mode with ESI pointing at the zero page.
//
// Guest-physical layout:
//   0x07000 – 0x07FFF   boot_params (zero page)
//   0x20000 – …         kernel command line, NUL-terminated
//   0x100000 – …        protected-mode kernel (the compressed image and its decompressor)
//   top of RAM          initramfs, page aligned, below initrd_addr_max
// The kernel decompresses itself to its runtime address (pref_address for a non-relocatable
// kernel) and needs init_size bytes there; the initramfs must stay clear of that region too.

import { LoadError, type LoadChunk, type LoadOptions, type LoadResult } from './types.js';

// ---- Setup header fields: byte offsets in the file and, identically, in boot_params ----------

export const HDR_SETUP_SECTS = 0x1f1; // u8: setup size in 512-byte sectors (0 means 4)
export const HDR_SYSSIZE = 0x1f4; // u32 (2.04+): protected-mode code size in 16-byte paragraphs
export const HDR_VID_MODE = 0x1fa; // u16
export const HDR_BOOT_FLAG = 0x1fe; // u16: 0xAA55
export const HDR_JUMP = 0x200; // u16: the jump instruction; its second byte is the header length
export const HDR_HEADER = 0x202; // u32: "HdrS"
export const HDR_VERSION = 0x206; // u16: boot protocol version
export const HDR_TYPE_OF_LOADER = 0x210; // u8
export const HDR_LOADFLAGS = 0x211; // u8
export const HDR_CODE32_START = 0x214; // u32
export const HDR_RAMDISK_IMAGE = 0x218; // u32
export const HDR_RAMDISK_SIZE = 0x21c; // u32
export const HDR_HEAP_END_PTR = 0x224; // u16 (2.01+)
export const HDR_CMD_LINE_PTR = 0x228; // u32 (2.02+)
export const HDR_INITRD_ADDR_MAX = 0x22c; // u32 (2.03+)
export const HDR_KERNEL_ALIGNMENT = 0x230; // u32 (2.05+)
export const HDR_RELOCATABLE_KERNEL = 0x234; // u8 (2.05+)
export const HDR_XLOADFLAGS = 0x236; // u16 (2.12+)
export const HDR_CMDLINE_SIZE = 0x238; // u32 (2.06+)
export const HDR_PAYLOAD_OFFSET = 0x248; // u32 (2.08+), from the start of the protected-mode code
export const HDR_PAYLOAD_LENGTH = 0x24c; // u32 (2.08+)
export const HDR_PREF_ADDRESS = 0x258; // u64 (2.10+)
export const HDR_INIT_SIZE = 0x260; // u32 (2.10+)
export const HDR_KERNEL_INFO_OFFSET = 0x268; // u32 (2.15+), from the start of the protected-mode code

// ---- Other boot_params fields -----------------------------------------------------------------

export const BP_EXT_MEM_K = 0x002; // u16 (screen_info.ext_mem_k): KiB of memory above 1 MiB, capped
export const BP_ALT_MEM_K = 0x1e0; // u32: KiB of memory above 1 MiB
export const BP_E820_ENTRIES = 0x1e8; // u8
export const BP_E820_TABLE = 0x2d0; // 20-byte entries: u64 addr, u64 size, u32 type
export const E820_ENTRY_SIZE = 20;
export const E820_MAX_ENTRIES_ZEROPAGE = 128;
/** The setup header ends at the latest where boot_params' next field (edd_mbr_sig_buffer) starts. */
const HDR_END_LIMIT = 0x290;

export const E820_RAM = 1;
export const E820_RESERVED = 2;

/** "HdrS", read as a little-endian u32. */
export const HDRS_MAGIC = 0x53726448;
export const BOOT_FLAG_MAGIC = 0xaa55;
/** The first byte of the setup header: a short jump (EB xx) over the header to the setup code. */
const JMP_SHORT = 0xeb;
/** kernel_info's magic, "LToP" (2.15+). */
const KERNEL_INFO_MAGIC = 0x506f544c;

/**
 * Where the setup header ends at the least for each protocol version (boot.rst's field table):
 * a header shorter than its version says would leave that version's fields unread.
 */
const HEADER_END_BY_VERSION: readonly [number, number][] = [
  [0x020f, 0x26c], // kernel_info_offset
  [0x020b, 0x268], // handover_offset
  [0x020a, 0x264], // pref_address, init_size
  [0x0209, 0x258], // setup_data
  [0x0208, 0x250], // payload_offset, payload_length
  [0x0207, 0x248], // hardware_subarch, hardware_subarch_data
  [0x0206, 0x23c], // cmdline_size
  [0x0205, 0x235], // kernel_alignment, relocatable_kernel
  [0x0203, 0x230], // initrd_addr_max
  [0x0202, 0x22c], // cmd_line_ptr
];

/** What the payload (the compressed kernel) starts with: each compressor's magic, or ELF. */
const PAYLOAD_MAGICS: readonly (readonly number[])[] = [
  [0x1f, 0x8b], // gzip
  [0x42, 0x5a, 0x68], // bzip2 "BZh"
  [0x5d, 0x00, 0x00], // LZMA
  [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], // XZ
  [0x89, 0x4c, 0x5a, 0x4f], // LZO
  [0x02, 0x21, 0x4c, 0x18], // LZ4 (legacy frame)
  [0x28, 0xb5, 0x2f, 0xfd], // zstd
  [0x7f, 0x45, 0x4c, 0x46], // an uncompressed ELF
];

// loadflags bits
export const LOADED_HIGH = 1 << 0;
export const CAN_USE_HEAP = 1 << 7;
// xloadflags bits
export const XLF_KERNEL_64 = 1 << 0;

/**
 * type_of_loader: boot.rst assigns ids to known boot loaders and asks any other to write 0xFF
 * ("undefined"). vmrun has no assigned id, so it says 0xFF, as kvmtool and Firecracker do.
 */
export const TYPE_OF_LOADER_UNDEFINED = 0xff;

// ---- Where vmrun puts things ------------------------------------------------------------------

/** The zero page. Below the command line, clear of the real-mode IVT/BDA and the EBDA. */
export const BOOT_PARAMS_ADDR = 0x7000;
export const BOOT_PARAMS_SIZE = 0x1000;
/** The kernel command line (boot.rst suggests it sit between the end of setup and 0xA0000). */
export const CMDLINE_ADDR = 0x20000;
/** The protected-mode kernel of a bzImage goes at 1 MiB (code32_start's default). */
export const KERNEL_LOAD_ADDR = 0x100000;
/**
 * heap_end_ptr: an offset into the real-mode setup segment that only the setup code reads. No setup
 * code runs here; vmrun still sets CAN_USE_HEAP with the customary value (a 64 KiB segment less
 * 0x200 for the stack), as other loaders do, so a kernel that looks sees a consistent header.
 */
export const HEAP_END_PTR = 0xfe00;

/** Conventional memory ends where the extended BIOS data area begins. */
const EBDA_START = 0x9fc00;
const LOW_MEM_END = 0xa0000;
const BIOS_ROM_START = 0xf0000;

const MiB = 0x100000;
const PAGE = 4096;
/** Protocol versions before 2.03 have no initrd_addr_max: boot.rst gives 0x37FFFFFF. */
const DEFAULT_INITRD_ADDR_MAX = 0x37ffffff;
/** The command line when none is given. */
export const DEFAULT_LINUX_CMDLINE = 'console=ttyS0';

/** Protocol versions before 2.06 have no cmdline_size: the limit is 255 characters. */
const DEFAULT_CMDLINE_SIZE = 255;

const hex = (n: number): string => '0x' + n.toString(16);
const range = (start: number, end: number): string => `[${hex(start)}, ${hex(end)})`;
const alignUp = (n: number, align: number): number => Math.ceil(n / align) * align;
const alignDown = (n: number, align: number): number => Math.floor(n / align) * align;
const mib = (n: number): string => {
  const m = n / MiB;
  return Number.isInteger(m) ? String(m) : m.toFixed(1);
};

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The setup header fields the loader needs, as read from a bzImage file. */
export interface SetupHeader {
  /** Boot protocol version, e.g. 0x020f for 2.15. */
  version: number;
  /** Setup sectors after the boot sector (0 in the file is read as 4). */
  setupSects: number;
  /** File offset of the protected-mode kernel: (setupSects + 1) * 512. */
  kernelOffset: number;
  /** syssize * 16 (protocol 2.04+), or null when the field is not reliable. */
  syssizeBytes: number | null;
  /** One past the last byte of the setup header: 0x202 + the byte at 0x201. */
  headerEnd: number;
  loadflags: number;
  code32Start: number;
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  xloadflags: number;
  cmdlineSize: number;
  /** The kernel's preferred runtime address (2.10+); 1 MiB for older kernels. */
  prefAddress: number;
  /** Bytes the kernel needs from its runtime address before it reads the memory map (2.10+), or 0. */
  initSize: number;
}

/**
 * Read and validate the setup header. Throws LoadError for anything vmrun cannot boot: a file
 * that is not a bzImage, a boot protocol older than 2.02, a zImage, a 64-bit kernel.
 */
export function parseSetupHeader(kernel: Uint8Array, name: string): SetupHeader {
  if (kernel.length < 0x206) throw new LoadError(`${name}: too short for a Linux kernel (${kernel.length} bytes)`);
  const dv = view(kernel);
  if (dv.getUint16(HDR_BOOT_FLAG, true) !== BOOT_FLAG_MAGIC) {
    throw new LoadError(`${name}: not a Linux kernel: no boot signature 0xAA55 at offset 0x1fe`);
  }
  if (dv.getUint32(HDR_HEADER, true) !== HDRS_MAGIC) {
    throw new LoadError(`${name}: not a Linux bzImage: no "HdrS" setup header magic at offset 0x202`);
  }
  const version = kernel.length >= HDR_VERSION + 2 ? dv.getUint16(HDR_VERSION, true) : 0;
  const versionText = `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
  const bad = (why: string): LoadError => new LoadError(`${name}: Linux setup header ("HdrS", protocol ${versionText}): ${why}`);
  if (version < 0x0202) {
    throw new LoadError(`${name}: Linux boot protocol too old: version ${versionText}, vmrun needs 2.02 or later`);
  }
  if (version > 0x02ff) throw bad(`version 0x${version.toString(16)} is not a 2.xx boot protocol`);
  if (kernel[HDR_JUMP] !== JMP_SHORT) {
    throw bad(`the jump at 0x200 is 0x${kernel[HDR_JUMP].toString(16)}, not a short jump (0xeb) over the header`);
  }
  const declaredEnd = HDR_HEADER + kernel[HDR_JUMP + 1];
  const headerEnd = Math.min(declaredEnd, HDR_END_LIMIT);
  const needed = HEADER_END_BY_VERSION.find(([v]) => version >= v)![1];
  if (declaredEnd < needed) {
    throw bad(`the header ends at 0x${declaredEnd.toString(16)} (jump length 0x${kernel[HDR_JUMP + 1].toString(16)}), before the fields of its version, which end at 0x${needed.toString(16)}`);
  }
  if (kernel.length < headerEnd) {
    throw new LoadError(`${name}: Linux setup header is truncated (ends at ${hex(headerEnd)})`);
  }
  const has = (offset: number, size: number, minVersion: number): boolean =>
    version >= minVersion && offset + size <= headerEnd;

  const loadflags = kernel[HDR_LOADFLAGS];
  if ((loadflags & LOADED_HIGH) === 0) {
    throw new LoadError(
      `${name}: a zImage (loaded low, at 0x10000) is not supported; vmrun boots bzImage kernels (loadflags LOADED_HIGH set)`,
    );
  }

  const xloadflags = has(HDR_XLOADFLAGS, 2, 0x020c) ? dv.getUint16(HDR_XLOADFLAGS, true) : 0;
  // A 64-bit bzImage has a 32-bit entry too, but its startup_32 switches to long mode at once.
  // Kernels with protocol 2.12 or later say they are 64-bit in xloadflags; older x86_64 kernels
  // cannot be told apart from the header and fail at run time when they enable long mode.
  if (xloadflags & XLF_KERNEL_64) {
    throw new LoadError(`${name}: 64-bit (x86_64) kernels are not supported yet: the core has no long mode`);
  }

  const setupSects = kernel[HDR_SETUP_SECTS] === 0 ? 4 : kernel[HDR_SETUP_SECTS];
  const kernelOffset = (setupSects + 1) * 512;
  if (kernelOffset >= kernel.length) {
    throw new LoadError(
      `${name}: file is truncated: ${setupSects} setup sectors end at ${hex(kernelOffset)}, the file has ${kernel.length} bytes`,
    );
  }
  const syssizeBytes = version >= 0x0204 ? dv.getUint32(HDR_SYSSIZE, true) * 16 : null;
  if (syssizeBytes === 0) throw bad('syssize is 0: the header gives the protected-mode kernel no size');
  if (syssizeBytes !== null && syssizeBytes > kernel.length - kernelOffset) {
    throw new LoadError(
      `${name}: file is truncated: the header says the protected-mode kernel has ${syssizeBytes} bytes, the file holds ${kernel.length - kernelOffset}`,
    );
  }

  let kernelAlignment = has(HDR_KERNEL_ALIGNMENT, 4, 0x0205) ? dv.getUint32(HDR_KERNEL_ALIGNMENT, true) : 0;
  const relocatable = has(HDR_RELOCATABLE_KERNEL, 1, 0x0205) && kernel[HDR_RELOCATABLE_KERNEL] !== 0;
  if (kernelAlignment === 0 || (kernelAlignment & (kernelAlignment - 1)) !== 0) {
    // Only a relocatable kernel's placement depends on it.
    if (relocatable) throw bad(`kernel_alignment 0x${kernelAlignment.toString(16)} of a relocatable kernel is not a power of two`);
    kernelAlignment = MiB;
  }

  let prefAddress = KERNEL_LOAD_ADDR;
  if (has(HDR_PREF_ADDRESS, 8, 0x020a)) {
    const lo = dv.getUint32(HDR_PREF_ADDRESS, true);
    const hi = dv.getUint32(HDR_PREF_ADDRESS + 4, true);
    if (hi !== 0) {
      throw new LoadError(`${name}: the kernel wants to run above 4 GiB (pref_address ${hex(hi * 2 ** 32 + lo)})`);
    }
    if (lo !== 0 && lo < MiB) throw bad(`pref_address ${hex(lo)} is below 1 MiB, where a bzImage cannot run`);
    if (lo !== 0) prefAddress = lo;
  }
  const initSize = has(HDR_INIT_SIZE, 4, 0x020a) ? dv.getUint32(HDR_INIT_SIZE, true) : 0;
  if (version >= 0x020a && initSize === 0) throw bad('init_size is 0: the kernel would not say how much memory it decompresses into');

  // Where the setup sectors end, the protected-mode code begins: the offsets the header gives
  // into it must find what they name there (a wrong setup_sects would make vmrun run setup code).
  const pmSize = kernel.length - kernelOffset;
  if (has(HDR_PAYLOAD_OFFSET, 8, 0x0208)) {
    const offset = dv.getUint32(HDR_PAYLOAD_OFFSET, true);
    const length = dv.getUint32(HDR_PAYLOAD_LENGTH, true);
    if (offset !== 0 || length !== 0) {
      if (offset + length > pmSize) {
        throw bad(`the payload [${hex(offset)}, ${hex(offset + length)}) runs past the end of the protected-mode code (${hex(pmSize)} bytes after ${setupSects} setup sectors)`);
      }
      const at = kernelOffset + offset;
      if (!PAYLOAD_MAGICS.some((m) => m.every((b, i) => kernel[at + i] === b))) {
        throw bad(`payload_offset ${hex(offset)} (after ${setupSects} setup sectors) does not point at a compressed kernel (no gzip, bzip2, LZMA, XZ, LZO, LZ4, zstd or ELF magic there)`);
      }
    }
  }
  if (has(HDR_KERNEL_INFO_OFFSET, 4, 0x020f)) {
    const offset = dv.getUint32(HDR_KERNEL_INFO_OFFSET, true);
    if (offset + 4 > pmSize || dv.getUint32(kernelOffset + offset, true) !== KERNEL_INFO_MAGIC) {
      throw bad(`kernel_info_offset ${hex(offset)} (after ${setupSects} setup sectors) does not point at the "LToP" kernel_info`);
    }
  }

  return {
    version,
    setupSects,
    kernelOffset,
    syssizeBytes,
    headerEnd,
    loadflags,
    code32Start: dv.getUint32(HDR_CODE32_START, true),
    initrdAddrMax: has(HDR_INITRD_ADDR_MAX, 4, 0x0203)
      ? dv.getUint32(HDR_INITRD_ADDR_MAX, true)
      : DEFAULT_INITRD_ADDR_MAX,
    kernelAlignment,
    relocatable,
    xloadflags,
    cmdlineSize: has(HDR_CMDLINE_SIZE, 4, 0x0206) ? dv.getUint32(HDR_CMDLINE_SIZE, true) : DEFAULT_CMDLINE_SIZE,
    prefAddress,
    initSize,
  };
}

/**
 * The marks of a Linux boot image other than "HdrS": the boot flag 0xAA55 at 0x1FE, a short jump
 * at 0x200 over a header of plausible length, a 2.xx protocol version at 0x206, setup sectors that
 * end inside the file, and (2.04+) a syssize that fits in the rest of it. A file that has them all
 * but no "HdrS" is a Linux kernel whose header was damaged, not a boot sector.
 */
export function hasLinuxMarks(kernel: Uint8Array): boolean {
  if (kernel.length < 0x210) return false;
  const dv = view(kernel);
  if (dv.getUint16(HDR_BOOT_FLAG, true) !== BOOT_FLAG_MAGIC || kernel[HDR_JUMP] !== JMP_SHORT) return false;
  const end = HDR_HEADER + kernel[HDR_JUMP + 1];
  if (end < HDR_CMD_LINE_PTR + 4 || end > HDR_END_LIMIT) return false;
  const version = dv.getUint16(HDR_VERSION, true);
  if (version < 0x0200 || version > 0x02ff) return false;
  const kernelOffset = ((kernel[HDR_SETUP_SECTS] || 4) + 1) * 512;
  if (kernelOffset >= kernel.length) return false;
  if (version >= 0x0204) {
    const sys = dv.getUint32(HDR_SYSSIZE, true) * 16;
    if (sys === 0 || sys > kernel.length - kernelOffset) return false;
  }
  return true;
}

/** One e820 entry. */
export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/** The e820 map of a PC with `memorySize` bytes of RAM from address 0 (more than 1 MiB). */
export function e820Map(memorySize: number): E820Entry[] {
  return [
    { addr: 0, size: EBDA_START, type: E820_RAM },
    { addr: EBDA_START, size: LOW_MEM_END - EBDA_START, type: E820_RESERVED },
    { addr: BIOS_ROM_START, size: MiB - BIOS_ROM_START, type: E820_RESERVED },
    { addr: MiB, size: memorySize - MiB, type: E820_RAM },
  ];
}

/**
 * Where the kernel will run: boot.rst's "kernel runtime start address". A relocatable kernel runs
 * at its load address (at least pref_address) rounded up to kernel_alignment; any other kernel
 * moves itself to pref_address.
 */
export function runtimeStart(hdr: SetupHeader, loadAddr: number): number {
  if (!hdr.relocatable) return hdr.prefAddress;
  return alignUp(Math.max(loadAddr, hdr.prefAddress), hdr.kernelAlignment);
}

/**
 * Load a Linux bzImage for the 32-bit boot protocol: the protected-mode kernel at 1 MiB, the zero
 * page at BOOT_PARAMS_ADDR, the command line at CMDLINE_ADDR, the initramfs (--initrd) at the top
 * of RAM. Entry: flat 32-bit protected mode at code32_start, ESI = the zero page, EBP = EDI = EBX = 0.
 */
export function loadBzImage(opts: LoadOptions): LoadResult {
  const name = opts.kernelPath;
  const kernel = opts.kernel;
  const memorySize = opts.memorySize;
  const hdr = parseSetupHeader(kernel, name);

  // ---- the protected-mode kernel ----
  const pmKernel = kernel.subarray(hdr.kernelOffset);
  const loadAddr = KERNEL_LOAD_ADDR;
  const loadEnd = loadAddr + pmKernel.length;
  const runStart = runtimeStart(hdr, loadAddr);
  const runEnd = runStart + hdr.initSize;
  const kernelEnd = Math.max(loadEnd, runEnd);
  if (kernelEnd > memorySize) {
    throw new LoadError(
      `${name}: kernel needs ${mib(alignUp(kernelEnd, MiB))} MiB, guest has ${mib(memorySize)} ` +
        `(image ${range(loadAddr, loadEnd)}, decompresses to ${range(runStart, runEnd)})`,
    );
  }

  // ---- the command line ----
  // With no --append, the serial console is the only console there is.
  const cmdline = new TextEncoder().encode(opts.cmdline ?? DEFAULT_LINUX_CMDLINE);
  if (cmdline.includes(0)) throw new LoadError(`${name}: the kernel command line contains a NUL byte`);
  if (cmdline.length > hdr.cmdlineSize) {
    throw new LoadError(
      `${name}: kernel command line is ${cmdline.length} bytes; this kernel accepts at most ${hdr.cmdlineSize}`,
    );
  }
  if (CMDLINE_ADDR + cmdline.length + 1 > EBDA_START) {
    throw new LoadError(`${name}: kernel command line of ${cmdline.length} bytes does not fit below ${hex(EBDA_START)}`);
  }
  const cmdlineBytes = new Uint8Array(cmdline.length + 1);
  cmdlineBytes.set(cmdline);

  // ---- the initramfs: as high as it may go, page aligned, above everything the kernel uses ----
  let initrd: { addr: number; data: Uint8Array } | null = null;
  if (opts.initrd !== undefined && opts.initrd.length > 0) {
    const path = opts.initrdPath ?? 'initrd';
    const size = opts.initrd.length;
    // initrd_addr_max is the highest address the initramfs may occupy (its last byte).
    const top = Math.min(memorySize, hdr.initrdAddrMax + 1);
    const addr = alignDown(top - size, PAGE);
    if (addr < alignUp(kernelEnd, PAGE)) {
      const room = Math.max(0, alignDown(top, PAGE) - alignUp(kernelEnd, PAGE));
      throw new LoadError(
        `${path}: initrd of ${size} bytes does not fit: ${room} bytes free between the kernel (ends ${hex(kernelEnd)}) ` +
          `and ${hex(top)} (guest RAM ${mib(memorySize)} MiB, initrd_addr_max ${hex(hdr.initrdAddrMax)})`,
      );
    }
    initrd = { addr, data: opts.initrd };
  }

  // ---- the zero page ----
  const bp = new Uint8Array(BOOT_PARAMS_SIZE);
  const bpv = view(bp);
  bp.set(kernel.subarray(HDR_SETUP_SECTS, hdr.headerEnd), HDR_SETUP_SECTS);
  bp[HDR_TYPE_OF_LOADER] = TYPE_OF_LOADER_UNDEFINED;
  bp[HDR_LOADFLAGS] = hdr.loadflags | LOADED_HIGH | CAN_USE_HEAP;
  bpv.setUint16(HDR_HEAP_END_PTR, HEAP_END_PTR, true);
  bpv.setUint32(HDR_CODE32_START, loadAddr, true);
  bpv.setUint32(HDR_CMD_LINE_PTR, CMDLINE_ADDR, true);
  bpv.setUint32(HDR_RAMDISK_IMAGE, initrd?.addr ?? 0, true);
  bpv.setUint32(HDR_RAMDISK_SIZE, initrd?.data.length ?? 0, true);

  // Memory sizes for kernels that predate e820 (both count KiB above 1 MiB).
  const extKiB = Math.floor((memorySize - MiB) / 1024);
  bpv.setUint16(BP_EXT_MEM_K, Math.min(extKiB, 0xffff), true);
  bpv.setUint32(BP_ALT_MEM_K, extKiB, true);

  const map = e820Map(memorySize);
  bp[BP_E820_ENTRIES] = map.length;
  map.forEach((e, i) => {
    const at = BP_E820_TABLE + i * E820_ENTRY_SIZE;
    bpv.setBigUint64(at, BigInt(e.addr), true);
    bpv.setBigUint64(at + 8, BigInt(e.size), true);
    bpv.setUint32(at + 16, e.type, true);
  });

  const chunks: LoadChunk[] = [
    { addr: BOOT_PARAMS_ADDR, data: bp },
    { addr: CMDLINE_ADDR, data: cmdlineBytes },
    { addr: loadAddr, data: pmKernel },
  ];
  if (initrd) chunks.push(initrd);

  const v = `${hdr.version >> 8}.${(hdr.version & 0xff).toString().padStart(2, '0')}`;
  let description =
    `Linux bzImage (boot protocol ${v}): kernel ${range(loadAddr, loadEnd)}` +
    (hdr.initSize ? `, runs at ${hex(runStart)} (init_size ${hex(hdr.initSize)})` : '') +
    `, boot_params ${hex(BOOT_PARAMS_ADDR)}, cmdline ${hex(CMDLINE_ADDR)}`;
  if (initrd) description += `, initrd ${range(initrd.addr, initrd.addr + initrd.data.length)}`;

  return {
    format: 'bzimage',
    chunks,
    entry: { kind: 'flat32', eip: loadAddr },
    // boot.rst: ESI holds the boot_params address; EBP, EDI and EBX must be zero.
    regs: { esi: BOOT_PARAMS_ADDR, ebp: 0, edi: 0, ebx: 0 },
    description,
  };
}
