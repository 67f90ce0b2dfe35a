import { describe, expect, it } from 'vitest';
import { loadKernel, type LoadOptions, type LoadResult } from '../../src/loaders/index.js';
import {
  MULTIBOOT_AOUT_KLUDGE,
  MULTIBOOT_BOOTLOADER_MAGIC,
  MULTIBOOT_HEADER_MAGIC,
  MULTIBOOT_INFO_ADDR,
  MULTIBOOT_MEMORY_INFO,
  MULTIBOOT_PAGE_ALIGN,
  MULTIBOOT_VIDEO_MODE,
} from '../../src/loaders/multiboot.js';
import { loadError } from '../support/loaders.js';

const MiB = 0x100000;
const MEM = 32 * MiB;

// ---- image builders -------------------------------------------------------------------------

/** A multiboot header: magic, flags, checksum and (for the a.out kludge) the five address fields. */
function mbHeader(flags: number, aout?: number[], checksumDelta = 0): Uint8Array {
  const words = [MULTIBOOT_HEADER_MAGIC, flags >>> 0, (-(MULTIBOOT_HEADER_MAGIC + flags) + checksumDelta) >>> 0];
  if (aout) words.push(...aout);
  const b = new Uint8Array(words.length * 4);
  const dv = new DataView(b.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  return b;
}

/** Bytes 1, 2, 3, … (mod 251, never 0), so loaded contents can be told apart from zero fill. */
function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((seed + i) % 251) + 1;
  return b;
}

interface SegSpec {
  type?: number;
  vaddr?: number;
  paddr: number;
  data: Uint8Array;
  memsz?: number;
}

interface ElfSpec {
  entry: number;
  segments: SegSpec[];
  /** Multiboot header flags; null for no multiboot header at all. */
  mbFlags?: number | null;
  /** Where the multiboot header goes in the file. */
  mbOffset?: number;
  /** Where the program header table goes in the file. */
  phoff?: number;
  machine?: number;
  elfClass?: number;
  type?: number;
}

/** An ELF32 executable: header, program headers, a multiboot header, then segment contents. */
function buildElf(spec: ElfSpec): Uint8Array {
  const phoff = spec.phoff ?? 52;
  const mbOffset = spec.mbOffset ?? 0x100;
  let dataOff = Math.max(0x200, mbOffset + 0x40);
  const offsets = spec.segments.map((s) => {
    const o = dataOff;
    dataOff += s.data.length + 0x10;
    return o;
  });
  const file = new Uint8Array(dataOff);
  const dv = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, spec.elfClass ?? 1, 1, 1]);
  dv.setUint16(16, spec.type ?? 2, true); // ET_EXEC
  dv.setUint16(18, spec.machine ?? 3, true); // EM_386
  dv.setUint32(20, 1, true);
  dv.setUint32(24, spec.entry, true);
  dv.setUint32(28, phoff, true);
  dv.setUint16(40, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, spec.segments.length, true);
  spec.segments.forEach((s, i) => {
    const ph = phoff + i * 32;
    dv.setUint32(ph, s.type ?? 1, true);
    dv.setUint32(ph + 4, offsets[i], true);
    dv.setUint32(ph + 8, s.vaddr ?? s.paddr, true);
    dv.setUint32(ph + 12, s.paddr, true);
    dv.setUint32(ph + 16, s.data.length, true);
    dv.setUint32(ph + 20, s.memsz ?? s.data.length, true);
    file.set(s.data, offsets[i]);
  });
  if (spec.mbFlags !== null) file.set(mbHeader(spec.mbFlags ?? MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO), mbOffset);
  return file;
}

/** The standard test kernel: text at 1 MiB, data + bss at 1 MiB + 8 KiB, and a PT_NOTE to skip. */
const TEXT = pattern(0x30, 1);
const DATA = pattern(0x10, 99);
function twoSegmentElf(): Uint8Array {
  return buildElf({
    entry: 0x100004,
    segments: [
      { paddr: 0x100000, data: TEXT },
      { type: 4, paddr: 0x200000, data: pattern(8, 7) }, // PT_NOTE: not loaded
      { paddr: 0x102000, data: DATA, memsz: 0x1000 },
    ],
  });
}

/** An a.out-kludge image: a flat file whose multiboot header says where it goes. */
function aoutImage(opts: {
  size: number;
  headerOffset: number;
  headerAddr: number;
  loadAddr: number;
  loadEndAddr: number;
  bssEndAddr: number;
  entryAddr: number;
  flags?: number;
}): Uint8Array {
  const file = pattern(opts.size, 5);
  const flags = (opts.flags ?? MULTIBOOT_MEMORY_INFO) | MULTIBOOT_AOUT_KLUDGE;
  file.set(
    mbHeader(flags, [opts.headerAddr, opts.loadAddr, opts.loadEndAddr, opts.bssEndAddr, opts.entryAddr]),
    opts.headerOffset,
  );
  return file;
}

function options(kernel: Uint8Array, more: Partial<LoadOptions> = {}): LoadOptions {
  return { kernel, kernelPath: 'kernel.elf', cmdline: '', memorySize: MEM, ...more };
}

// ---- reading the result back ------------------------------------------------------------------

/** Guest memory after applying the chunks; fails the test if two chunks overlap. */
function memoryOf(result: LoadResult, size = MEM): Uint8Array {
  const sorted = [...result.chunks].sort((a, b) => a.addr - b.addr);
  for (let i = 1; i < sorted.length; i++) {
    expect(sorted[i].addr, 'chunks overlap').toBeGreaterThanOrEqual(sorted[i - 1].addr + sorted[i - 1].data.length);
  }
  const mem = new Uint8Array(size).fill(0xcc); // not zero, so zero fill must come from a chunk
  for (const c of result.chunks) mem.set(c.data, c.addr);
  return mem;
}

function u32(mem: Uint8Array, addr: number): number {
  return new DataView(mem.buffer).getUint32(addr, true);
}
function u64(mem: Uint8Array, addr: number): number {
  return u32(mem, addr) + u32(mem, addr + 4) * 0x1_0000_0000;
}
function cstring(mem: Uint8Array, addr: number): string {
  let end = addr;
  while (mem[end] !== 0) end++;
  return new TextDecoder().decode(mem.subarray(addr, end));
}

// ---- tests -------------------------------------------------------------------------------------

describe('multiboot: ELF kernels', () => {
  it('loads the PT_LOAD segments at p_paddr, zero-fills bss and enters at e_entry', () => {
    const r = loadKernel(options(twoSegmentElf()));
    expect(r.format).toBe('multiboot');
    expect(r.entry).toEqual({ kind: 'flat32', eip: 0x100004 });
    expect(r.regs.eax).toBe(MULTIBOOT_BOOTLOADER_MAGIC);
    expect(r.regs.ebx).toBe(MULTIBOOT_INFO_ADDR);
    const mem = memoryOf(r);
    expect(mem.subarray(0x100000, 0x100030)).toEqual(TEXT);
    expect(mem[0x100030]).toBe(0xcc); // nothing beyond p_memsz
    expect(mem.subarray(0x102000, 0x102010)).toEqual(DATA);
    expect(mem.subarray(0x102010, 0x103000).every((b) => b === 0)).toBe(true);
    expect(mem[0x103000]).toBe(0xcc);
    expect(mem[0x200000]).toBe(0xcc); // PT_NOTE is not loaded
    expect(r.description).toContain('ELF, 2 segments');
  });

  it('enters a higher-half kernel at the physical address of e_entry', () => {
    const k = buildElf({
      entry: 0xc0100010,
      segments: [{ vaddr: 0xc0100000, paddr: 0x100000, data: pattern(0x40, 3) }],
    });
    expect(loadKernel(options(k)).entry).toEqual({ kind: 'flat32', eip: 0x100010 });
  });

  it('accepts an e_entry that is already physical', () => {
    const k = buildElf({
      entry: 0x100010,
      segments: [{ vaddr: 0xc0100000, paddr: 0x100000, data: pattern(0x40, 3) }],
    });
    expect(loadKernel(options(k)).entry).toEqual({ kind: 'flat32', eip: 0x100010 });
  });

  it('refuses an entry point outside every segment', () => {
    const k = buildElf({ entry: 0x500000, segments: [{ paddr: 0x100000, data: pattern(0x40, 3) }] });
    expect(loadError(options(k))).toMatch(/entry point 0x500000 is outside every loadable segment/);
  });

  it('refuses ELF files that are not 32-bit i386 executables', () => {
    const seg = [{ paddr: 0x100000, data: pattern(0x40, 3) }];
    expect(loadError(options(buildElf({ entry: 0x100000, segments: seg, machine: 62 })))).toMatch(/not an i386 ELF/);
    expect(loadError(options(buildElf({ entry: 0x100000, segments: seg, elfClass: 2 })))).toMatch(/not a 32-bit ELF/);
    expect(loadError(options(buildElf({ entry: 0x100000, segments: seg, type: 3 })))).toMatch(/ET_EXEC/);
  });

  it('refuses a multiboot file without the a.out kludge that is not ELF', () => {
    const file = pattern(0x400, 9);
    file.set(mbHeader(MULTIBOOT_MEMORY_INFO), 0x20);
    expect(loadError(options(file))).toMatch(/must be ELF/);
  });

  it('refuses a segment whose file contents are cut off (truncated file)', () => {
    const k = twoSegmentElf();
    expect(loadError(options(k.subarray(0, k.length - 0x20)))).toMatch(/truncated/);
  });

  it('refuses a file cut off inside the program header table', () => {
    const k = buildElf({
      entry: 0x100000, segments: [{ paddr: 0x100000, data: pattern(0x40, 3) }], mbOffset: 0x34, phoff: 0x40,
    });
    expect(loadError(options(k.subarray(0, 0x50)))).toMatch(/program header table ends past the end of the file/);
  });

  it('refuses a segment outside guest RAM', () => {
    const k = buildElf({ entry: 0x100000, segments: [{ paddr: 0x100000, data: pattern(0x40, 3), memsz: 0x2000000 }] });
    expect(loadError(options(k))).toMatch(/outside guest RAM/);
  });

  it('loads a segment below 1 MiB when it stays clear of the information area', () => {
    const k = buildElf({ entry: 0x20000, segments: [{ paddr: 0x20000, data: pattern(0x40, 3) }] });
    const mem = memoryOf(loadKernel(options(k)));
    expect(mem.subarray(0x20000, 0x20040)).toEqual(pattern(0x40, 3));
  });

  it('loads a kernel linked at 0x8000 over 0x9000: the information goes elsewhere', () => {
    const k = buildElf({ entry: 0x8000, segments: [{ paddr: 0x8000, data: pattern(0x40, 3), memsz: 0x1100 }] });
    const r = loadKernel(options(k, { cmdline: 'low' }));
    const mem = memoryOf(r); // no chunk overlaps another
    const info = r.regs.ebx!;
    expect(info).toBe(0x1000); // the lowest free conventional memory
    expect(cstring(mem, u32(mem, info + 16))).toBe('kernel.elf low');
    expect(mem.subarray(0x8000, 0x8040)).toEqual(pattern(0x40, 3));
    expect(r.description).toContain('info at 0x1000');
  });

  it('refuses overlapping segments', () => {
    const k = buildElf({
      entry: 0x100000,
      segments: [
        { paddr: 0x100000, data: pattern(0x40, 3) },
        { paddr: 0x100020, data: pattern(0x40, 4) },
      ],
    });
    expect(loadError(options(k))).toMatch(/overlap/);
  });
});

describe('multiboot: header', () => {
  it('refuses a bad checksum', () => {
    const k = twoSegmentElf();
    k.set(mbHeader(MULTIBOOT_MEMORY_INFO, undefined, 1), 0x100);
    expect(loadError(options(k))).toMatch(/multiboot header at offset 0x100 has a bad checksum/);
  });

  it('refuses a header cut off by the end of the file', () => {
    const file = new Uint8Array(0x108);
    file.set(mbHeader(MULTIBOOT_MEMORY_INFO).subarray(0, 8), 0x100);
    expect(loadError(options(file))).toMatch(/truncated/);
  });

  it('ignores a header that is not 32-bit aligned or beyond the first 8192 bytes', () => {
    const unaligned = buildElf({ entry: 0x100000, segments: [{ paddr: 0x100000, data: pattern(0x40, 3) }], mbOffset: 0x102 });
    expect(loadError(options(unaligned))).toMatch(/an ELF file without a multiboot header \(no magic 0x1badb002 in its first 8192 bytes\)/);
    const late = buildElf({ entry: 0x100000, segments: [{ paddr: 0x100000, data: pattern(0x40, 3) }], mbOffset: 8192 });
    expect(loadError(options(late))).toMatch(/an ELF file without a multiboot header/);
  });

  it('refuses requirement flags it does not understand, accepts the video-mode request', () => {
    const seg = [{ paddr: 0x100000, data: pattern(0x40, 3) }];
    const unknown = buildElf({ entry: 0x100000, segments: seg, mbFlags: MULTIBOOT_MEMORY_INFO | (1 << 3) });
    expect(loadError(options(unknown))).toMatch(/requires features .* \(flags bits 0x8\)/);
    const video = buildElf({ entry: 0x100000, segments: seg, mbFlags: MULTIBOOT_MEMORY_INFO | MULTIBOOT_VIDEO_MODE });
    expect(loadKernel(options(video)).format).toBe('multiboot');
    // Optional feature bits (16-31) other than the a.out kludge are not errors.
    const optional = buildElf({ entry: 0x100000, segments: seg, mbFlags: MULTIBOOT_MEMORY_INFO | (1 << 20) });
    expect(loadKernel(options(optional)).format).toBe('multiboot');
  });

  it('refuses to boot with 1 MiB of RAM or less', () => {
    expect(loadError(options(twoSegmentElf(), { memorySize: MiB }))).toMatch(/more than 1 MiB/);
  });
});

describe('multiboot: a.out kludge', () => {
  it('loads from the file offset given by header_addr - load_addr, to the end of the file', () => {
    // The header at file offset 0x40 is at 0x100040 in memory, so the file loads from offset 0.
    const k = aoutImage({
      size: 0x300, headerOffset: 0x40, headerAddr: 0x100040, loadAddr: 0x100000,
      loadEndAddr: 0, bssEndAddr: 0, entryAddr: 0x100080,
    });
    const r = loadKernel(options(k));
    expect(r.entry).toEqual({ kind: 'flat32', eip: 0x100080 });
    const mem = memoryOf(r);
    expect(mem.subarray(0x100000, 0x100300)).toEqual(k);
    expect(mem[0x100300]).toBe(0xcc); // no bss
    expect(r.description).toContain('a.out kludge');
  });

  it('skips the file bytes before load_addr, stops at load_end_addr and zeroes the bss', () => {
    // Header at offset 0x100 and at 0x200040: the loaded image starts at file offset 0xC0.
    const k = aoutImage({
      size: 0x400, headerOffset: 0x100, headerAddr: 0x200040, loadAddr: 0x200000,
      loadEndAddr: 0x200200, bssEndAddr: 0x201000, entryAddr: 0x200060,
    });
    const mem = memoryOf(loadKernel(options(k)));
    expect(mem.subarray(0x200000, 0x200200)).toEqual(k.subarray(0xc0, 0x2c0));
    expect(mem.subarray(0x200200, 0x201000).every((b) => b === 0)).toBe(true);
    expect(mem[0x201000]).toBe(0xcc);
  });

  it('takes the a.out kludge over the ELF headers when flag 16 is set', () => {
    const k = buildElf({ entry: 0x100000, segments: [{ paddr: 0x100000, data: pattern(0x40, 3) }] });
    k.set(mbHeader(MULTIBOOT_MEMORY_INFO | MULTIBOOT_AOUT_KLUDGE, [0x300100, 0x300000, 0, 0, 0x300000]), 0x100);
    const r = loadKernel(options(k));
    expect(r.entry).toEqual({ kind: 'flat32', eip: 0x300000 });
    expect(memoryOf(r).subarray(0x300000, 0x300000 + k.length)).toEqual(k);
  });

  const good = {
    size: 0x400, headerOffset: 0x40, headerAddr: 0x100040, loadAddr: 0x100000,
    loadEndAddr: 0x100400, bssEndAddr: 0x101000, entryAddr: 0x100080,
  };

  it('refuses inconsistent addresses', () => {
    const cases: [Partial<typeof good>, RegExp][] = [
      [{ headerAddr: 0xfff00 }, /header_addr 0xfff00 is below load_addr/],
      [{ headerAddr: 0x100080 }, /before the beginning of the file/],
      [{ loadEndAddr: 0xff000 }, /load_end_addr 0xff000 is not above load_addr/],
      [{ loadEndAddr: 0x100050 }, /header .* is not inside the loaded range/],
      [{ bssEndAddr: 0x100200 }, /bss_end_addr 0x100200 is below the end of the loaded data/],
      [{ entryAddr: 0x100400 }, /entry_addr 0x100400 is outside the loaded range/],
    ];
    for (const [change, message] of cases) {
      const msg = loadError(options(aoutImage({ ...good, ...change })));
      expect(msg).toMatch(/inconsistent multiboot a.out kludge addresses/);
      expect(msg).toMatch(message);
    }
  });

  it('refuses a file shorter than load_end_addr - load_addr (truncated)', () => {
    expect(loadError(options(aoutImage({ ...good, loadEndAddr: 0x100800 })))).toMatch(/file is truncated/);
  });

  it('refuses a header cut off before the address fields', () => {
    const k = aoutImage(good).subarray(0, 0x40 + 20);
    expect(loadError(options(k))).toMatch(/truncated/);
  });

  it('refuses an image whose bss runs past the end of RAM', () => {
    const k = aoutImage({ ...good, bssEndAddr: MEM + 0x1000 });
    expect(loadError(options(k))).toMatch(/outside guest RAM/);
  });
});

describe('multiboot: information structure', () => {
  it('describes memory, the command line, the memory map and the boot loader', () => {
    const r = loadKernel(options(twoSegmentElf(), { cmdline: 'console=ttyS0 debug' }));
    const mem = memoryOf(r);
    const info = r.regs.ebx!;
    // mem_lower/mem_upper (0), cmdline (2), mmap (6), boot_loader_name (9); no modules (3).
    expect(u32(mem, info)).toBe((1 << 0) | (1 << 2) | (1 << 6) | (1 << 9));
    expect(u32(mem, info + 4)).toBe(639);
    expect(u32(mem, info + 8)).toBe((MEM - MiB) / 1024);
    expect(cstring(mem, u32(mem, info + 16))).toBe('kernel.elf console=ttyS0 debug');
    expect(u32(mem, info + 20)).toBe(0);
    expect(cstring(mem, u32(mem, info + 64))).toBe('vmrun');

    const mmapLength = u32(mem, info + 44);
    const mmapAddr = u32(mem, info + 48);
    const entries: [number, number, number][] = [];
    for (let at = mmapAddr; at < mmapAddr + mmapLength; at += u32(mem, at) + 4) {
      expect(u32(mem, at)).toBe(20);
      entries.push([u64(mem, at + 4), u64(mem, at + 12), u32(mem, at + 20)]);
    }
    expect(entries).toEqual([
      [0, 0x9fc00, 1],
      [0x9fc00, 0x400, 2],
      [0xf0000, 0x10000, 2],
      [MiB, MEM - MiB, 1],
    ]);
    // Everything the structure points to lies in low memory, below the EBDA.
    for (const p of [mmapAddr + mmapLength, u32(mem, info + 16), u32(mem, info + 64)]) {
      expect(p).toBeGreaterThanOrEqual(0x9000);
      expect(p).toBeLessThan(0x9fc00);
    }
  });

  it('passes just the kernel path as the command line when there is no --append', () => {
    const r = loadKernel(options(twoSegmentElf()));
    const mem = memoryOf(r);
    expect(cstring(mem, u32(mem, r.regs.ebx! + 16))).toBe('kernel.elf');
  });

  it('reports memory above 4 GiB in 64-bit memory map fields', () => {
    const size = 5 * 1024 * MiB;
    const r = loadKernel(options(twoSegmentElf(), { memorySize: size }));
    // Read the info area chunk directly: a 5 GiB test buffer is too much.
    const area = r.chunks.find((c) => c.addr === MULTIBOOT_INFO_ADDR)!;
    const mem = new Uint8Array(0xa0000);
    mem.set(area.data, area.addr);
    const mmapAddr = u32(mem, MULTIBOOT_INFO_ADDR + 48);
    expect(u64(mem, mmapAddr + 3 * 24 + 12)).toBe(size - MiB);
  });

  it('places the module page-aligned above the kernel, with its path as the string', () => {
    const initrd = pattern(5000, 42);
    const r = loadKernel(options(twoSegmentElf(), { initrd, initrdPath: 'images/initrd.img' }));
    const mem = memoryOf(r);
    const info = r.regs.ebx!;
    expect(u32(mem, info) & (1 << 3)).toBe(1 << 3);
    expect(u32(mem, info + 20)).toBe(1);
    const mod = u32(mem, info + 24);
    const start = u32(mem, mod);
    const end = u32(mem, mod + 4);
    // The kernel image (bss included) ends at 0x103000, so the module starts there.
    expect(start).toBe(0x103000);
    expect(end).toBe(0x103000 + 5000);
    expect(cstring(mem, u32(mem, mod + 8))).toBe('images/initrd.img');
    expect(u32(mem, mod + 12)).toBe(0);
    expect(mem.subarray(start, end)).toEqual(initrd);
    expect(r.description).toContain('module images/initrd.img');
  });

  it('rounds the module address up to the next page after an unaligned kernel end', () => {
    const k = buildElf({ entry: 0x100000, segments: [{ paddr: 0x100000, data: pattern(0x40, 3), memsz: 0x2345 }] });
    const r = loadKernel(options(k, { initrd: pattern(16, 1), initrdPath: 'm' }));
    const mem = memoryOf(r);
    expect(u32(mem, u32(mem, r.regs.ebx! + 24))).toBe(0x103000);
  });

  it('puts the module at 1 MiB when the kernel lives below 1 MiB', () => {
    const k = buildElf({ entry: 0x20000, segments: [{ paddr: 0x20000, data: pattern(0x40, 3) }] });
    const r = loadKernel(options(k, { initrd: pattern(16, 1), initrdPath: 'm' }));
    const mem = memoryOf(r);
    expect(u32(mem, u32(mem, r.regs.ebx! + 24))).toBe(MiB);
  });

  it('refuses a module that does not fit in RAM', () => {
    const msg = loadError(options(twoSegmentElf(), { initrd: new Uint8Array(MEM), initrdPath: 'big.img' }));
    expect(msg).toMatch(/^big\.img: module of \d+ bytes at 0x103000 does not fit in guest RAM/);
  });

  it('puts a command line too long for conventional memory below the top of RAM', () => {
    const r = loadKernel(options(twoSegmentElf(), { cmdline: 'x'.repeat(0x100000), initrd: pattern(5000, 1), initrdPath: 'm' }));
    const mem = memoryOf(r);
    const info = r.regs.ebx!;
    const area = r.chunks.find((c) => c.addr <= info && info < c.addr + c.data.length)!;
    expect(area.addr + area.data.length).toBeLessThanOrEqual(MEM);
    expect(area.addr + area.data.length).toBeGreaterThan(MEM - 0x20);
    expect(cstring(mem, u32(mem, info + 16))).toBe(`kernel.elf ${'x'.repeat(0x100000)}`);
    expect(cstring(mem, u32(mem, u32(mem, info + 24) + 8))).toBe('m');
    expect(u32(mem, u32(mem, info + 48))).toBe(20); // the memory map moved with it
  });

  it('goes below the top of RAM, clear of the module, when the kernel fills conventional memory', () => {
    // The kernel leaves 128 bytes of conventional memory; the module starts at 1 MiB.
    const k = buildElf({ entry: 0x1000, segments: [{ paddr: 0x1000, data: pattern(0x40, 3), memsz: 0x9fb80 - 0x1000 }] });
    const initrd = pattern(MEM - MiB - 0x1000, 9);
    const r = loadKernel(options(k, { initrd, initrdPath: 'm' }));
    const mem = memoryOf(r);
    const info = r.regs.ebx!;
    const area = r.chunks.find((c) => c.addr === info)!;
    expect(info).toBeGreaterThanOrEqual(MEM - 0x1000);
    expect(info % 16).toBe(0);
    expect(area.addr + area.data.length).toBeLessThanOrEqual(MEM);
    expect(area.addr + area.data.length).toBeGreaterThan(MEM - 16);
    expect(cstring(mem, u32(mem, info + 16))).toBe('kernel.elf');
  });

  it('refuses what does not fit anywhere beside the kernel and the module', () => {
    expect(loadError(options(twoSegmentElf(), { cmdline: 'x'.repeat(MEM) }))).toMatch(
      /^kernel\.elf: the multiboot information \(\d+ bytes with the command line and module name\) does not fit in guest RAM beside the kernel$/,
    );
  });
});
