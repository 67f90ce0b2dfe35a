// Multiboot v1 loader, after the Multiboot Specification version 0.6.96.
//
// The kernel image is either an ELF32 i386 executable (its PT_LOAD segments are loaded at their
// physical addresses) or, when header flag bit 16 is set, described by the "a.out kludge" address
// fields of the multiboot header. The loader also builds the multiboot information structure the
// kernel finds at EBX, with a memory map, the command line, the boot loader's name and, with
// --initrd, one module.

import { LoadError, type LoadChunk, type LoadOptions, type LoadResult } from './types.js';

/** The magic value at the start of the multiboot header in the kernel file. */
export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
/** The value EAX holds when the kernel is entered. */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** The header must lie within this many bytes from the start of the file, 32-bit aligned. */
export const MULTIBOOT_SEARCH_LIMIT = 8192;

// Header flags (spec 3.1.2). Bits 0-15 are requirements: a loader that does not understand one
// must refuse the kernel. Bits 16-31 are optional features.
export const MULTIBOOT_PAGE_ALIGN = 1 << 0;
export const MULTIBOOT_MEMORY_INFO = 1 << 1;
export const MULTIBOOT_VIDEO_MODE = 1 << 2;
export const MULTIBOOT_AOUT_KLUDGE = 1 << 16;
const UNDERSTOOD_REQUIREMENTS = MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO | MULTIBOOT_VIDEO_MODE;

// Multiboot information flags (spec 3.3): which fields of the structure are valid.
export const MULTIBOOT_INFO_MEMORY = 1 << 0;
export const MULTIBOOT_INFO_CMDLINE = 1 << 2;
export const MULTIBOOT_INFO_MODS = 1 << 3;
export const MULTIBOOT_INFO_MEM_MAP = 1 << 6;
export const MULTIBOOT_INFO_BOOT_LOADER_NAME = 1 << 9;

// Byte offsets of the fields of the multiboot information structure that vmrun fills in.
export const MBI_FLAGS = 0;
export const MBI_MEM_LOWER = 4;
export const MBI_MEM_UPPER = 8;
export const MBI_CMDLINE = 16;
export const MBI_MODS_COUNT = 20;
export const MBI_MODS_ADDR = 24;
export const MBI_MMAP_LENGTH = 44;
export const MBI_MMAP_ADDR = 48;
export const MBI_BOOT_LOADER_NAME = 64;
/** Size of the structure up to and including the framebuffer fields; unused fields stay zero. */
const MBI_SIZE = 116;

/** Memory map entry types. */
export const MULTIBOOT_MEMORY_AVAILABLE = 1;
export const MULTIBOOT_MEMORY_RESERVED = 2;

/**
 * Where the information structure goes when that is free (as QEMU puts it); mmap, module list and
 * strings follow it.
 */
export const MULTIBOOT_INFO_ADDR = 0x9000;
/** Conventional memory ends below the extended BIOS data area. */
const INFO_AREA_LIMIT = 0x9fc00;

export const BOOT_LOADER_NAME = 'vmrun';

const MiB = 0x100000;
const PAGE = 4096;

const hex = (n: number): string => '0x' + n.toString(16);
const range = (start: number, end: number): string => `[${hex(start)}, ${hex(end)})`;
const alignUp = (n: number, align: number): number => Math.ceil(n / align) * align;

type HeaderScan =
  | { status: 'ok'; offset: number }
  | { status: 'bad-checksum'; offset: number }
  | { status: 'truncated'; offset: number };

/**
 * Look for the multiboot header: the first 32-bit aligned magic in the first 8192 bytes whose
 * checksum is valid. When there is a magic but no valid header, report what is wrong with the first.
 */
function scanHeader(kernel: Uint8Array): HeaderScan | null {
  const dv = view(kernel);
  const end = Math.min(kernel.length, MULTIBOOT_SEARCH_LIMIT);
  let problem: HeaderScan | null = null;
  for (let off = 0; off + 4 <= end; off += 4) {
    if (dv.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    if (off + 12 > kernel.length) {
      problem ??= { status: 'truncated', offset: off };
      continue;
    }
    const sum = (MULTIBOOT_HEADER_MAGIC + dv.getUint32(off + 4, true) + dv.getUint32(off + 8, true)) >>> 0;
    if (sum === 0) return { status: 'ok', offset: off };
    problem ??= { status: 'bad-checksum', offset: off };
  }
  return problem;
}

/** True when the file carries a multiboot magic where a header may be (valid or not). */
export function hasMultibootMagic(kernel: Uint8Array): boolean {
  return scanHeader(kernel) !== null;
}

/**
 * A multiboot header whose magic was damaged: where a header may be, a flags and a checksum
 * field that add up with the true magic to 0 mod 2^32, as only a multiboot header's do (for
 * random words the chance is 2^-32 per offset; zero fill does not qualify). Returns the offset
 * and the magic as found, or null.
 */
export function damagedMultibootMagic(kernel: Uint8Array): { offset: number; found: number } | null {
  const dv = view(kernel);
  const end = Math.min(kernel.length, MULTIBOOT_SEARCH_LIMIT);
  for (let off = 0; off + 12 <= end; off += 4) {
    const found = dv.getUint32(off, true);
    if (found === MULTIBOOT_HEADER_MAGIC) continue;
    if (((MULTIBOOT_HEADER_MAGIC + dv.getUint32(off + 4, true) + dv.getUint32(off + 8, true)) >>> 0) === 0) {
      return { offset: off, found };
    }
  }
  return null;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** What the kernel file puts into memory. */
interface KernelImage {
  chunks: LoadChunk[];
  /** Lowest and one past the highest guest-physical address the image occupies, bss included. */
  start: number;
  end: number;
  entry: number;
  /** For the description line: "ELF, 2 segments" / "a.out kludge". */
  kind: string;
}

function checkInRam(name: string, what: string, start: number, end: number, memorySize: number): void {
  if (end > memorySize) {
    throw new LoadError(
      `${name}: ${what} ${range(start, end)} lies outside guest RAM (${memorySize} bytes = ${hex(memorySize)})`,
    );
  }
}

/** Header flag bit 16: the header's own address fields say where the image goes. */
function loadAoutKludge(name: string, kernel: Uint8Array, off: number, memorySize: number): KernelImage {
  if (off + 32 > kernel.length) {
    throw new LoadError(
      `${name}: multiboot header at offset ${hex(off)} is truncated: the a.out kludge address fields end past the end of the file`,
    );
  }
  const dv = view(kernel);
  const headerAddr = dv.getUint32(off + 12, true);
  const loadAddr = dv.getUint32(off + 16, true);
  const loadEndAddr = dv.getUint32(off + 20, true);
  const bssEndAddr = dv.getUint32(off + 24, true);
  const entryAddr = dv.getUint32(off + 28, true);
  const bad = (why: string): LoadError =>
    new LoadError(`${name}: inconsistent multiboot a.out kludge addresses: ${why}`);

  if (headerAddr < loadAddr) throw bad(`header_addr ${hex(headerAddr)} is below load_addr ${hex(loadAddr)}`);
  // The file offset that load_addr corresponds to: the header sits at header_addr in memory and
  // at `off` in the file.
  const fileStart = off - (headerAddr - loadAddr);
  if (fileStart < 0) {
    throw bad(`load_addr ${hex(loadAddr)} would start ${-fileStart} bytes before the beginning of the file`);
  }
  if (loadEndAddr !== 0 && loadEndAddr <= loadAddr) {
    throw bad(`load_end_addr ${hex(loadEndAddr)} is not above load_addr ${hex(loadAddr)}`);
  }
  // load_end_addr 0: the text and data run to the end of the file.
  const loadEnd = loadEndAddr === 0 ? loadAddr + (kernel.length - fileStart) : loadEndAddr;
  if (headerAddr + 32 > loadEnd) {
    throw bad(`the header at header_addr ${hex(headerAddr)} is not inside the loaded range ${range(loadAddr, loadEnd)}`);
  }
  const size = loadEnd - loadAddr;
  if (fileStart + size > kernel.length) {
    throw new LoadError(
      `${name}: file is truncated: the multiboot a.out kludge loads ${size} bytes from offset ${hex(fileStart)}, but the file has ${kernel.length} bytes`,
    );
  }
  // bss_end_addr 0: no bss.
  const bssEnd = bssEndAddr === 0 ? loadEnd : bssEndAddr;
  if (bssEnd < loadEnd) throw bad(`bss_end_addr ${hex(bssEnd)} is below the end of the loaded data ${hex(loadEnd)}`);
  if (entryAddr < loadAddr || entryAddr >= loadEnd) {
    throw bad(`entry_addr ${hex(entryAddr)} is outside the loaded range ${range(loadAddr, loadEnd)}`);
  }
  checkInRam(name, 'kernel image', loadAddr, bssEnd, memorySize);

  const chunks: LoadChunk[] = [{ addr: loadAddr, data: kernel.subarray(fileStart, fileStart + size) }];
  if (bssEnd > loadEnd) chunks.push({ addr: loadEnd, data: new Uint8Array(bssEnd - loadEnd) });
  return { chunks, start: loadAddr, end: bssEnd, entry: entryAddr, kind: 'a.out kludge' };
}

// ELF32 constants (System V ABI, i386 supplement).
const ELFCLASS32 = 1;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const EM_386 = 3;
const PT_LOAD = 1;
const ELF32_EHDR_SIZE = 52;
const ELF32_PHDR_SIZE = 32;

export function isElf(kernel: Uint8Array): boolean {
  return kernel.length >= 4 && kernel[0] === 0x7f && kernel[1] === 0x45 && kernel[2] === 0x4c && kernel[3] === 0x46;
}

/** A PT_LOAD segment as the program header table describes it. */
interface Segment {
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
}

/** No a.out kludge: the file must be an ELF32 i386 executable; load its PT_LOAD segments. */
function loadElf(name: string, kernel: Uint8Array, memorySize: number): KernelImage {
  if (!isElf(kernel)) {
    throw new LoadError(
      `${name}: multiboot header without the a.out kludge (flag bit 16), so the file must be ELF, and it is not`,
    );
  }
  if (kernel.length < ELF32_EHDR_SIZE) throw new LoadError(`${name}: ELF header is truncated`);
  if (kernel[4] !== ELFCLASS32) {
    throw new LoadError(`${name}: not a 32-bit ELF (EI_CLASS ${kernel[4]}); a multiboot v1 kernel must be ELF32 i386`);
  }
  if (kernel[5] !== ELFDATA2LSB) throw new LoadError(`${name}: not a little-endian ELF (EI_DATA ${kernel[5]})`);
  const dv = view(kernel);
  const type = dv.getUint16(16, true);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_386) throw new LoadError(`${name}: not an i386 ELF (e_machine ${machine}, expected EM_386 = 3)`);
  if (type !== ET_EXEC) throw new LoadError(`${name}: not an executable ELF (e_type ${type}, expected ET_EXEC = 2)`);
  const eEntry = dv.getUint32(24, true);
  const phoff = dv.getUint32(28, true);
  const phentsize = dv.getUint16(42, true);
  const phnum = dv.getUint16(44, true);
  if (phnum === 0) throw new LoadError(`${name}: ELF has no program headers`);
  if (phentsize < ELF32_PHDR_SIZE) throw new LoadError(`${name}: ELF program header size ${phentsize} is too small`);
  if (phoff + phnum * phentsize > kernel.length) {
    throw new LoadError(`${name}: file is truncated: the ELF program header table ends past the end of the file`);
  }

  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (dv.getUint32(ph, true) !== PT_LOAD) continue;
    const seg: Segment = {
      offset: dv.getUint32(ph + 4, true),
      vaddr: dv.getUint32(ph + 8, true),
      paddr: dv.getUint32(ph + 12, true),
      filesz: dv.getUint32(ph + 16, true),
      memsz: dv.getUint32(ph + 20, true),
    };
    if (seg.memsz === 0) continue;
    if (seg.filesz > seg.memsz) {
      throw new LoadError(`${name}: ELF segment ${i} has p_filesz ${seg.filesz} larger than p_memsz ${seg.memsz}`);
    }
    if (seg.offset + seg.filesz > kernel.length) {
      throw new LoadError(
        `${name}: file is truncated: ELF segment ${i} needs bytes ${range(seg.offset, seg.offset + seg.filesz)} of a ${kernel.length}-byte file`,
      );
    }
    checkInRam(name, `ELF segment ${i}`, seg.paddr, seg.paddr + seg.memsz, memorySize);
    segments.push(seg);
  }
  if (segments.length === 0) throw new LoadError(`${name}: ELF has no loadable (PT_LOAD) segments`);

  const sorted = [...segments].sort((a, b) => a.paddr - b.paddr);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.paddr < prev.paddr + prev.memsz) {
      throw new LoadError(
        `${name}: ELF segments ${range(prev.paddr, prev.paddr + prev.memsz)} and ${range(cur.paddr, cur.paddr + cur.memsz)} overlap`,
      );
    }
  }

  // e_entry is a virtual address. A kernel linked to run higher up but loaded low (p_vaddr ≠
  // p_paddr) is entered at the physical address of its entry point, as GRUB 2 does; paging is
  // off at entry. An e_entry that is already physical is taken as it is.
  let entry = -1;
  for (const s of segments) {
    if (eEntry >= s.vaddr && eEntry < s.vaddr + s.memsz) {
      entry = eEntry - s.vaddr + s.paddr;
      break;
    }
  }
  if (entry < 0) {
    if (segments.some((s) => eEntry >= s.paddr && eEntry < s.paddr + s.memsz)) entry = eEntry;
    else throw new LoadError(`${name}: ELF entry point ${hex(eEntry)} is outside every loadable segment`);
  }

  const chunks: LoadChunk[] = [];
  for (const s of segments) {
    if (s.filesz > 0) chunks.push({ addr: s.paddr, data: kernel.subarray(s.offset, s.offset + s.filesz) });
    // The part of the segment beyond the file contents (bss) is zero-filled.
    if (s.memsz > s.filesz) chunks.push({ addr: s.paddr + s.filesz, data: new Uint8Array(s.memsz - s.filesz) });
  }
  const start = sorted[0].paddr;
  const end = Math.max(...segments.map((s) => s.paddr + s.memsz));
  const kind = `ELF, ${segments.length} segment${segments.length === 1 ? '' : 's'}`;
  return { chunks, start, end, entry, kind };
}

/**
 * Builds the information area: structure first, then the pieces it points to. It is built at
 * offset 0 and placed afterwards (place()), when its size is known: the fields that hold an
 * address inside the area are recorded and moved with it.
 */
class InfoArea {
  private bytes = new Uint8Array(1024);
  private dv = view(this.bytes);
  private used = 0;
  private readonly pointers: number[] = [];

  /** Reserve `size` bytes aligned to `align` (at most 16); returns the offset in the area. */
  alloc(size: number, align: number): number {
    const at = alignUp(this.used, align);
    if (at + size > this.bytes.length) {
      const bigger = new Uint8Array(Math.max(this.bytes.length * 2, alignUp(at + size, 1024)));
      bigger.set(this.bytes);
      this.bytes = bigger;
      this.dv = view(bigger);
    }
    this.used = at + size;
    return at;
  }

  u32(at: number, value: number): void {
    this.dv.setUint32(at, value >>> 0, true);
  }

  /** 64-bit little-endian field from a non-negative safe integer. */
  u64(at: number, value: number): void {
    this.u32(at, value % 0x1_0000_0000);
    this.u32(at + 4, Math.floor(value / 0x1_0000_0000));
  }

  /** A field holding the guest-physical address of `target`, an offset in this area. */
  pointer(at: number, target: number): void {
    this.u32(at, target);
    this.pointers.push(at);
  }

  /** A NUL-terminated string (UTF-8); returns its offset. */
  string(s: string): number {
    const encoded = new TextEncoder().encode(s);
    const at = this.alloc(encoded.length + 1, 1);
    this.bytes.set(encoded, at);
    return at;
  }

  get size(): number {
    return this.used;
  }

  /** The area at guest-physical `base` (16-byte aligned): its pointers are moved there. */
  place(base: number): LoadChunk {
    for (const at of this.pointers) this.u32(at, base + this.dv.getUint32(at, true));
    return { addr: base, data: this.bytes.subarray(0, this.used) };
  }
}

/** Where conventional memory the information area may use starts (page 0: IVT and BDA). */
const LOW_START = 0x1000;

/**
 * Where the information area goes: at MULTIBOOT_INFO_ADDR (0x9000, QEMU's choice, so the same
 * kernel sees the same layout under both) when that is free; else at the lowest free place in
 * conventional memory; else at the highest free place below the top of RAM. Free means clear of
 * `taken` (the kernel image and the module) and inside RAM the memory map reports available
 * (never the EBDA, video memory or the BIOS area between 0x9FC00 and 1 MiB).
 */
export function placeInfoArea(size: number, taken: readonly { start: number; end: number }[], memorySize: number): number | null {
  const clear = (at: number): boolean => taken.every((t) => at + size <= t.start || at >= t.end);
  const align = 16;
  if (MULTIBOOT_INFO_ADDR + size <= INFO_AREA_LIMIT && clear(MULTIBOOT_INFO_ADDR)) return MULTIBOOT_INFO_ADDR;
  // Candidates: the start of each free stretch (the low start and every end of something taken)
  // going up in low memory, and the top of each free stretch going down in high memory.
  const ends = [LOW_START, ...taken.map((t) => alignUp(t.end, align))].sort((a, b) => a - b);
  for (const at of ends) {
    if (at >= LOW_START && at + size <= INFO_AREA_LIMIT && clear(at)) return at;
  }
  const tops = [memorySize, ...taken.map((t) => t.start)].sort((a, b) => b - a);
  for (const top of tops) {
    const at = Math.floor((top - size) / align) * align;
    if (at >= MiB && top <= memorySize && clear(at)) return at;
  }
  return null;
}

/** The physical memory map handed to the kernel, as a PC with `memorySize` bytes of RAM has it. */
export function multibootMemoryMap(memorySize: number): { base: number; length: number; type: number }[] {
  return [
    { base: 0, length: 0x9fc00, type: MULTIBOOT_MEMORY_AVAILABLE },
    { base: 0x9fc00, length: 0xa0000 - 0x9fc00, type: MULTIBOOT_MEMORY_RESERVED },
    { base: 0xf0000, length: 0x100000 - 0xf0000, type: MULTIBOOT_MEMORY_RESERVED },
    { base: MiB, length: memorySize - MiB, type: MULTIBOOT_MEMORY_AVAILABLE },
  ];
}

/**
 * Load a Multiboot v1 kernel.
 *
 * Layout of guest memory:
 * - the kernel image where its ELF segments or a.out kludge fields put it;
 * - the module (--initrd), if any, at the first page boundary at or above both the end of the
 *   kernel image (bss included) and 1 MiB; its string is the --initrd path;
 * - the information structure, followed by the memory map, the module list and the strings, in
 *   one area placed where neither the kernel nor the module is (placeInfoArea): at 0x9000 when
 *   that is free, else in conventional memory, else below the top of RAM.
 *
 * The command line the kernel receives is the kernel path, a space and --append (when not empty),
 * the way GRUB and QEMU pass it: kernels skip the first word.
 */
export function loadMultiboot(opts: LoadOptions): LoadResult {
  const name = opts.kernelPath;
  const kernel = opts.kernel;
  const memorySize = opts.memorySize;

  const scan = scanHeader(kernel);
  if (scan === null) throw new LoadError(`${name}: no multiboot header in the first ${MULTIBOOT_SEARCH_LIMIT} bytes`);
  if (scan.status === 'truncated') {
    throw new LoadError(`${name}: multiboot header at offset ${hex(scan.offset)} is truncated by the end of the file`);
  }
  if (scan.status === 'bad-checksum') {
    throw new LoadError(
      `${name}: multiboot header at offset ${hex(scan.offset)} has a bad checksum (magic + flags + checksum must be 0 mod 2^32)`,
    );
  }
  const off = scan.offset;
  const flags = view(kernel).getUint32(off + 4, true);
  const unknown = flags & 0xffff & ~UNDERSTOOD_REQUIREMENTS;
  if (unknown !== 0) {
    throw new LoadError(`${name}: multiboot header requires features vmrun does not provide (flags bits ${hex(unknown)})`);
  }
  // Bit 0 (modules page aligned): vmrun always page-aligns the module.
  // Bit 1 (memory information): always provided.
  // Bit 2 (video mode table): vmrun has no framebuffer; the header's mode fields are a preference
  // the loader honours when it can, so the kernel is booted in text mode without video info.
  if (memorySize <= MiB) {
    throw new LoadError(`${name}: a multiboot kernel needs more than 1 MiB of RAM (have ${memorySize} bytes)`);
  }

  const image =
    flags & MULTIBOOT_AOUT_KLUDGE
      ? loadAoutKludge(name, kernel, off, memorySize)
      : loadElf(name, kernel, memorySize);

  // The module.
  let mod: { start: number; end: number; path: string } | null = null;
  if (opts.initrd !== undefined) {
    const path = opts.initrdPath ?? 'initrd';
    const start = alignUp(Math.max(image.end, MiB), PAGE);
    const end = start + opts.initrd.length;
    if (end > memorySize) {
      throw new LoadError(
        `${path}: module of ${opts.initrd.length} bytes at ${hex(start)} does not fit in guest RAM (${memorySize} bytes)`,
      );
    }
    mod = { start, end, path };
  }

  // The information structure and what it points to, built first and then placed.
  const area = new InfoArea();
  const info = area.alloc(MBI_SIZE, 8);
  let infoFlags = MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MEM_MAP | MULTIBOOT_INFO_BOOT_LOADER_NAME;
  area.u32(info + MBI_MEM_LOWER, 639);
  area.u32(info + MBI_MEM_UPPER, Math.min(Math.floor((memorySize - MiB) / 1024), 0xffffffff));

  const map = multibootMemoryMap(memorySize);
  const mmap = area.alloc(map.length * 24, 8);
  map.forEach((e, i) => {
    const at = mmap + i * 24;
    area.u32(at, 20); // size of the entry, not counting this field
    area.u64(at + 4, e.base);
    area.u64(at + 12, e.length);
    area.u32(at + 20, e.type);
  });
  area.pointer(info + MBI_MMAP_ADDR, mmap);
  area.u32(info + MBI_MMAP_LENGTH, map.length * 24);

  if (mod !== null) {
    const list = area.alloc(16, 4);
    area.u32(list, mod.start);
    area.u32(list + 4, mod.end);
    area.pointer(list + 8, area.string(mod.path));
    area.u32(list + 12, 0);
    area.u32(info + MBI_MODS_COUNT, 1);
    area.pointer(info + MBI_MODS_ADDR, list);
    infoFlags |= MULTIBOOT_INFO_MODS;
  }
  area.pointer(info + MBI_BOOT_LOADER_NAME, area.string(BOOT_LOADER_NAME));
  area.pointer(info + MBI_CMDLINE, area.string(!opts.cmdline ? name : `${name} ${opts.cmdline}`));
  area.u32(info + MBI_FLAGS, infoFlags);

  const taken = image.chunks.map((c) => ({ start: c.addr, end: c.addr + c.data.length }));
  if (mod !== null) taken.push({ start: mod.start, end: mod.end });
  const base = placeInfoArea(area.size, taken, memorySize);
  if (base === null) {
    throw new LoadError(
      `${name}: the multiboot information (${area.size} bytes with the command line and module name) does not fit in guest RAM beside the kernel${mod !== null ? ' and the module' : ''}`,
    );
  }
  const infoChunk = area.place(base);
  const infoAddr = base + info;

  const chunks: LoadChunk[] = [...image.chunks, infoChunk];
  if (mod !== null && opts.initrd !== undefined) chunks.push({ addr: mod.start, data: opts.initrd });

  let description =
    `multiboot ${name} (${image.kind}): ${range(image.start, image.end)}, entry ${hex(image.entry)}, ` +
    `info at ${hex(infoAddr)}`;
  if (mod !== null) description += `, module ${mod.path} at ${range(mod.start, mod.end)}`;

  return {
    format: 'multiboot',
    chunks,
    entry: { kind: 'flat32', eip: image.entry },
    regs: { eax: MULTIBOOT_BOOTLOADER_MAGIC, ebx: infoAddr },
    description,
  };
}
