// The Linux bzImage loader (32-bit boot protocol): synthetic bzImage-shaped files built here, and
// the real kernel in images/linux when it has been built.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  BOOT_PARAMS_ADDR,
  CAN_USE_HEAP,
  CMDLINE_ADDR,
  E820_RAM,
  E820_RESERVED,
  HEAP_END_PTR,
  KERNEL_LOAD_ADDR,
  LOADED_HIGH,
  XLF_KERNEL_64,
  loadBzImage,
  parseSetupHeader,
} from '../../src/loaders/bzimage.js';
import { detectFormat, loadKernel, LoadError, type LoadOptions, type LoadResult } from '../../src/loaders/index.js';

const MiB = 0x100000;
const MEM = 32 * MiB;

// ---- image builder ----------------------------------------------------------------------------

interface BzSpec {
  version?: number;
  /** The byte written at 0x1F1 (0 means 4). */
  setupSects?: number;
  loadflags?: number;
  xloadflags?: number;
  cmdlineSize?: number;
  initrdAddrMax?: number;
  kernelAlignment?: number;
  relocatable?: boolean;
  prefAddress?: number;
  initSize?: number;
  /** Bytes of protected-mode kernel after the setup sectors (a multiple of 16). */
  payloadSize?: number;
  /** The byte at 0x201: the setup header ends at 0x202 + this. */
  headerLength?: number;
}

/** Bytes 1, 2, 3, … (mod 251, never 0), so loaded contents can be told apart from zero fill. */
function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((seed + i) % 251) + 1;
  return b;
}

/**
 * A bzImage-shaped file: a boot sector and setup sectors holding a setup header in the layout of
 * boot protocol 2.15, then a patterned "protected-mode kernel".
 */
function bzImage(spec: BzSpec = {}): Uint8Array {
  const sectsByte = spec.setupSects ?? 3;
  const sects = sectsByte === 0 ? 4 : sectsByte;
  const payloadSize = spec.payloadSize ?? 0x2000;
  const file = new Uint8Array((sects + 1) * 512 + payloadSize);
  // Boot sector and setup code bytes that must not reach boot_params.
  file.set(pattern((sects + 1) * 512, 7));
  file.set(pattern(payloadSize, 99), (sects + 1) * 512);
  const dv = new DataView(file.buffer);
  // Clear the setup header area, then fill in its fields.
  file.fill(0, 0x1f1, 0x290);
  file[0x1f1] = sectsByte;
  dv.setUint16(0x1f2, 1, true); // root_flags
  dv.setUint32(0x1f4, payloadSize / 16, true); // syssize
  dv.setUint16(0x1fa, 0xffff, true); // vid_mode: normal
  dv.setUint16(0x1fe, 0xaa55, true);
  file[0x200] = 0xeb; // jmp short
  file[0x201] = spec.headerLength ?? 0x6a;
  file.set([0x48, 0x64, 0x72, 0x53], 0x202); // "HdrS"
  dv.setUint16(0x206, spec.version ?? 0x020f, true);
  dv.setUint16(0x20e, 0x1234, true); // kernel_version
  file[0x211] = spec.loadflags ?? LOADED_HIGH;
  dv.setUint32(0x214, 0x100000, true); // code32_start
  dv.setUint32(0x22c, spec.initrdAddrMax ?? 0x7fffffff, true);
  dv.setUint32(0x230, spec.kernelAlignment ?? 0x200000, true);
  file[0x234] = spec.relocatable ? 1 : 0;
  file[0x235] = 13; // min_alignment
  dv.setUint16(0x236, spec.xloadflags ?? 0, true);
  dv.setUint32(0x238, spec.cmdlineSize ?? 2047, true);
  const pm = (sects + 1) * 512;
  dv.setUint32(0x248, 0x79, true); // payload_offset
  dv.setUint32(0x24c, payloadSize - 0x100, true); // payload_length
  file.set([0x02, 0x21, 0x4c, 0x18], pm + 0x79); // an LZ4 payload starts there
  dv.setUint32(0x258, spec.prefAddress ?? 0x1000000, true);
  dv.setUint32(0x260, spec.initSize ?? 0x300000, true);
  dv.setUint32(0x268, payloadSize - 0x40, true); // kernel_info_offset
  file.set([0x4c, 0x54, 0x6f, 0x50], pm + payloadSize - 0x40); // "LToP"
  return file;
}

function options(kernel: Uint8Array, more: Partial<LoadOptions> = {}): LoadOptions {
  return { kernel, kernelPath: 'bzImage', cmdline: 'console=ttyS0', memorySize: MEM, ...more };
}

function loadError(opts: LoadOptions): string {
  try {
    loadBzImage(opts);
  } catch (e) {
    expect(e).toBeInstanceOf(LoadError);
    return (e as Error).message;
  }
  throw new Error('expected a LoadError');
}

function chunkAt(r: LoadResult, addr: number): Uint8Array {
  const c = r.chunks.find((ch) => ch.addr === addr);
  if (!c) throw new Error(`no chunk at 0x${addr.toString(16)}`);
  return c.data;
}

/** The zero page as loaded, with a DataView. */
function zeroPage(r: LoadResult): { bp: Uint8Array; dv: DataView } {
  const bp = chunkAt(r, BOOT_PARAMS_ADDR);
  return { bp, dv: new DataView(bp.buffer, bp.byteOffset, bp.byteLength) };
}

function e820(dv: DataView): { addr: number; size: number; type: number }[] {
  const n = dv.getUint8(0x1e8);
  return Array.from({ length: n }, (_, i) => {
    const at = 0x2d0 + i * 20;
    return {
      addr: Number(dv.getBigUint64(at, true)),
      size: Number(dv.getBigUint64(at + 8, true)),
      type: dv.getUint32(at + 16, true),
    };
  });
}

// ---- placement and entry ----------------------------------------------------------------------

describe('bzImage: placement and entry', () => {
  it('is detected and loaded through loadKernel', () => {
    const file = bzImage();
    expect(detectFormat(file)).toBe('bzimage');
    const r = loadKernel(options(file));
    expect(r.format).toBe('bzimage');
    expect(r.entry).toEqual({ kind: 'flat32', eip: KERNEL_LOAD_ADDR });
    expect(r.regs).toEqual({ esi: BOOT_PARAMS_ADDR, ebp: 0, edi: 0, ebx: 0 });
  });

  it('loads the protected-mode kernel (after the setup sectors) at 1 MiB', () => {
    const file = bzImage({ setupSects: 3, payloadSize: 0x3000 });
    const r = loadBzImage(options(file));
    const pm = chunkAt(r, 0x100000);
    expect(pm.length).toBe(0x3000);
    expect(pm).toEqual(file.subarray(4 * 512));
    expect(r.chunks.map((c) => c.addr).sort((a, b) => a - b)).toEqual([BOOT_PARAMS_ADDR, CMDLINE_ADDR, 0x100000]);
    expect(r.description).toContain('boot protocol 2.15');
    expect(r.description).toContain('[0x100000, 0x103000)');
  });

  it('reads setup_sects 0 as 4', () => {
    const file = bzImage({ setupSects: 0, payloadSize: 0x1000 });
    expect(parseSetupHeader(file, 'k').kernelOffset).toBe(5 * 512);
    expect(chunkAt(loadBzImage(options(file)), 0x100000)).toEqual(file.subarray(5 * 512));
  });

  it('keeps every chunk clear of the others and inside RAM', () => {
    const initrd = pattern(0x5000, 3);
    const r = loadBzImage(options(bzImage(), { initrd }));
    const spans = r.chunks.map((c) => [c.addr, c.addr + c.data.length]).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    expect(spans[spans.length - 1][1]).toBeLessThanOrEqual(MEM);
    expect(BOOT_PARAMS_ADDR + 0x1000).toBeLessThanOrEqual(CMDLINE_ADDR);
  });
});

// ---- boot_params ------------------------------------------------------------------------------

describe('bzImage: boot_params', () => {
  it('copies the setup header from the file and nothing around it', () => {
    const file = bzImage({ headerLength: 0x6a });
    // A byte just past the header end (0x202 + 0x6a = 0x26c) that must not be copied.
    file[0x26c] = 0x5a;
    const { bp } = zeroPage(loadBzImage(options(file)));
    expect(bp.length).toBe(4096);
    // Fields the loader fills in; every other header byte is the file's.
    const written = new Set<number>([0x210, 0x211, 0x214, 0x215, 0x216, 0x217, 0x218, 0x219, 0x21a, 0x21b]);
    for (const f of [0x21c, 0x224, 0x228]) for (let i = 0; i < 4; i++) written.add(f + i);
    for (let off = 0x1f1; off < 0x26c; off++) {
      if (!written.has(off)) expect(bp[off], `offset 0x${off.toString(16)}`).toBe(file[off]);
    }
    expect(bp.subarray(0, 0x1f1).every((b, i) => b === 0 || i === 0x002 || i === 0x003 || (i >= 0x1e0 && i < 0x1f0))).toBe(true);
    expect(bp[0x26c]).toBe(0);
  });

  it('copies a shorter header only as far as its declared length', () => {
    const file = bzImage({ version: 0x0206, headerLength: 0x3a }); // 2.06: ends after cmdline_size
    file[0x23c] = 0x77; // hardware_subarch of later versions: past this header's end
    const { bp, dv } = zeroPage(loadBzImage(options(file)));
    expect(dv.getUint32(0x238, true)).toBe(2047);
    expect(bp[0x23c]).toBe(0);
    expect(dv.getUint32(0x260, true)).toBe(0);
  });

  it('sets type_of_loader, loadflags, heap_end_ptr and code32_start', () => {
    const { bp, dv } = zeroPage(loadBzImage(options(bzImage({ loadflags: LOADED_HIGH | 0x20 }))));
    expect(bp[0x210]).toBe(0xff);
    expect(bp[0x211]).toBe(LOADED_HIGH | CAN_USE_HEAP | 0x20);
    expect(dv.getUint16(0x224, true)).toBe(HEAP_END_PTR);
    expect(dv.getUint32(0x214, true)).toBe(0x100000);
  });

  it('points cmd_line_ptr at the NUL-terminated command line', () => {
    const r = loadBzImage(options(bzImage(), { cmdline: 'console=ttyS0 quiet' }));
    const { dv } = zeroPage(r);
    expect(dv.getUint32(0x228, true)).toBe(CMDLINE_ADDR);
    const cl = chunkAt(r, CMDLINE_ADDR);
    expect(new TextDecoder().decode(cl)).toBe('console=ttyS0 quiet\0');
  });

  it('passes an empty command line as a lone NUL', () => {
    const r = loadBzImage(options(bzImage(), { cmdline: '' }));
    expect(chunkAt(r, CMDLINE_ADDR)).toEqual(new Uint8Array([0]));
  });

  it('describes memory with an e820 map and the legacy size fields', () => {
    const { bp, dv } = zeroPage(loadBzImage(options(bzImage(), { memorySize: 64 * MiB })));
    expect(bp[0x1e8]).toBe(4);
    expect(e820(dv)).toEqual([
      { addr: 0, size: 0x9fc00, type: E820_RAM },
      { addr: 0x9fc00, size: 0x400, type: E820_RESERVED },
      { addr: 0xf0000, size: 0x10000, type: E820_RESERVED },
      { addr: 0x100000, size: 63 * MiB, type: E820_RAM },
    ]);
    expect(dv.getUint16(0x002, true)).toBe(63 * 1024); // ext_mem_k
    expect(dv.getUint32(0x1e0, true)).toBe(63 * 1024); // alt_mem_k
  });

  it('caps ext_mem_k at 0xFFFF KiB', () => {
    const { dv } = zeroPage(loadBzImage(options(bzImage(), { memorySize: 256 * MiB })));
    expect(dv.getUint16(0x002, true)).toBe(0xffff);
    expect(dv.getUint32(0x1e0, true)).toBe(255 * 1024);
  });

  it('leaves ramdisk_image and ramdisk_size zero without --initrd', () => {
    const { dv } = zeroPage(loadBzImage(options(bzImage())));
    expect(dv.getUint32(0x218, true)).toBe(0);
    expect(dv.getUint32(0x21c, true)).toBe(0);
  });
});

// ---- the initramfs ----------------------------------------------------------------------------

describe('bzImage: initramfs placement', () => {
  it('puts the initrd page aligned at the top of RAM', () => {
    const initrd = pattern(5000, 11);
    const r = loadBzImage(options(bzImage(), { initrd, initrdPath: 'initramfs.cpio.gz' }));
    const { dv } = zeroPage(r);
    const addr = dv.getUint32(0x218, true);
    expect(addr).toBe(Math.floor((MEM - 5000) / 4096) * 4096);
    expect(addr % 4096).toBe(0);
    expect(addr + 5000).toBeLessThanOrEqual(MEM);
    expect(dv.getUint32(0x21c, true)).toBe(5000);
    expect(chunkAt(r, addr)).toBe(initrd);
    expect(r.description).toContain(`initrd [0x${addr.toString(16)}, 0x${(addr + 5000).toString(16)})`);
  });

  it('keeps the initrd at or below initrd_addr_max', () => {
    const initrd = pattern(0x1800, 5);
    const file = bzImage({ initrdAddrMax: 0x1bfffff, prefAddress: 0x100000, initSize: 0x100000 });
    const { dv } = zeroPage(loadBzImage(options(file, { initrd })));
    const addr = dv.getUint32(0x218, true);
    expect(addr + initrd.length - 1).toBeLessThanOrEqual(0x1bfffff);
    expect(addr).toBe(0x1c00000 - 0x2000);
  });

  it('keeps the initrd clear of the region the kernel decompresses into', () => {
    // The kernel runs at 16 MiB and needs 8 MiB there; RAM ends at 26 MiB: 2 MiB left above.
    const file = bzImage({ prefAddress: 0x1000000, initSize: 0x800000 });
    const fits = loadBzImage(options(file, { memorySize: 26 * MiB, initrd: new Uint8Array(2 * MiB) }));
    expect(zeroPage(fits).dv.getUint32(0x218, true)).toBe(24 * MiB);
    const msg = loadError(options(file, { memorySize: 26 * MiB, initrd: new Uint8Array(2 * MiB + 1), initrdPath: 'big.cpio' }));
    expect(msg).toMatch(/^big\.cpio: initrd of 2097153 bytes does not fit/);
  });

  it('refuses an initrd larger than the free RAM', () => {
    const msg = loadError(options(bzImage(), { initrd: new Uint8Array(40 * MiB), initrdPath: 'huge.img' }));
    expect(msg).toMatch(/^huge\.img: initrd of 41943040 bytes does not fit/);
    expect(msg).toContain('guest RAM 32 MiB');
  });

  it('refuses an initrd that initrd_addr_max pushes into the kernel', () => {
    const file = bzImage({ initrdAddrMax: 0x12fffff, prefAddress: 0x1000000, initSize: 0x300000 });
    expect(loadError(options(file, { initrd: new Uint8Array(4096) }))).toMatch(/initrd of 4096 bytes does not fit/);
  });
});

// ---- where the kernel runs --------------------------------------------------------------------

describe('bzImage: runtime address and memory size', () => {
  it('a non-relocatable kernel runs at pref_address', () => {
    const r = loadBzImage(options(bzImage({ prefAddress: 0x1000000, initSize: 0x300000 })));
    expect(r.description).toContain('runs at 0x1000000 (init_size 0x300000)');
  });

  it('a relocatable kernel runs at its load address aligned up, at least pref_address', () => {
    const rel = bzImage({ relocatable: true, prefAddress: 0x200000, kernelAlignment: 0x400000, initSize: 0x100000 });
    expect(loadBzImage(options(rel)).description).toContain('runs at 0x400000');
    const low = bzImage({ relocatable: true, prefAddress: 0x100000, kernelAlignment: 0x100000, initSize: 0x100000 });
    expect(loadBzImage(options(low)).description).toContain('runs at 0x100000');
  });

  it('refuses a guest too small for pref_address + init_size', () => {
    const file = bzImage({ prefAddress: 0x1000000, initSize: 0x300000 });
    expect(loadError(options(file, { memorySize: 16 * MiB }))).toMatch(/^bzImage: kernel needs 19 MiB, guest has 16\b/);
    expect(() => loadBzImage(options(file, { memorySize: 19 * MiB }))).not.toThrow();
  });

  it('refuses a guest too small for the image itself', () => {
    const file = bzImage({ version: 0x0207, headerLength: 0x46, payloadSize: 0x10000 }); // no init_size
    expect(loadError(options(file, { memorySize: MiB + 0x8000 }))).toMatch(/kernel needs 2 MiB, guest has 1\.0/);
  });
});

// ---- refusals ---------------------------------------------------------------------------------

describe('bzImage: errors', () => {
  it('refuses a file without the 0xAA55 boot signature', () => {
    const file = bzImage();
    file[0x1fe] = 0;
    expect(loadError(options(file))).toMatch(/^bzImage: not a Linux kernel: no boot signature 0xAA55/);
  });

  it('refuses a file without the "HdrS" magic', () => {
    const file = bzImage();
    file[0x205] = 0x54;
    expect(loadError(options(file))).toMatch(/no "HdrS" setup header magic/);
  });

  it('refuses a file too short for a setup header', () => {
    expect(loadError(options(new Uint8Array(0x100)))).toMatch(/too short for a Linux kernel/);
  });

  it('refuses boot protocols older than 2.02', () => {
    expect(loadError(options(bzImage({ version: 0x0201 })))).toBe(
      'bzImage: Linux boot protocol too old: version 2.01, vmrun needs 2.02 or later',
    );
    expect(() => loadBzImage(options(bzImage({ version: 0x0202, headerLength: 0x2e })))).not.toThrow();
  });

  it('refuses a zImage (LOADED_HIGH clear)', () => {
    expect(loadError(options(bzImage({ loadflags: 0 })))).toMatch(/a zImage \(loaded low, at 0x10000\) is not supported/);
  });

  it('refuses a command line longer than cmdline_size', () => {
    const file = bzImage({ cmdlineSize: 16 });
    expect(() => loadBzImage(options(file, { cmdline: 'x'.repeat(16) }))).not.toThrow();
    expect(loadError(options(file, { cmdline: 'x'.repeat(17) }))).toBe(
      'bzImage: kernel command line is 17 bytes; this kernel accepts at most 16',
    );
  });

  it('limits the command line to 255 bytes before protocol 2.06', () => {
    const file = bzImage({ version: 0x0205, headerLength: 0x36 });
    expect(() => loadBzImage(options(file, { cmdline: 'y'.repeat(255) }))).not.toThrow();
    expect(loadError(options(file, { cmdline: 'y'.repeat(256) }))).toMatch(/256 bytes; this kernel accepts at most 255/);
  });

  it('refuses a 64-bit kernel', () => {
    expect(loadError(options(bzImage({ xloadflags: XLF_KERNEL_64 | 0x2 })))).toBe(
      'bzImage: 64-bit (x86_64) kernels are not supported yet: the core has no long mode',
    );
  });

  it('refuses a file truncated before its syssize says it ends', () => {
    const file = bzImage({ payloadSize: 0x1000 });
    expect(loadError(options(file.subarray(0, file.length - 16)))).toMatch(/file is truncated/);
    expect(loadError(options(file.subarray(0, 4 * 512)))).toMatch(/file is truncated/);
  });
});

// ---- the real kernel --------------------------------------------------------------------------

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const realKernel = path.join(root, 'images/linux/bzImage');
const realInitrd = path.join(root, 'images/linux/initramfs.cpio.gz');
const haveReal = existsSync(realKernel) && existsSync(realInitrd);

describe.skipIf(!haveReal)('bzImage: images/linux (the kernel build.sh makes)', () => {
  it('parses the header of the i386 test kernel', () => {
    const kernel = new Uint8Array(readFileSync(realKernel));
    const hdr = parseSetupHeader(kernel, realKernel);
    expect(hdr.version).toBeGreaterThanOrEqual(0x020f); // Linux 6.1: 2.15
    expect(hdr.loadflags & LOADED_HIGH).toBe(LOADED_HIGH);
    expect(hdr.xloadflags & XLF_KERNEL_64).toBe(0);
    expect(hdr.code32Start).toBe(0x100000);
    expect(hdr.syssizeBytes).toBe(kernel.length - hdr.kernelOffset);
    expect(hdr.initSize).toBeGreaterThan(kernel.length - hdr.kernelOffset);
    expect(hdr.prefAddress).toBe(0x1000000); // CONFIG_PHYSICAL_START, not relocatable
    expect(hdr.relocatable).toBe(false);
    expect(hdr.cmdlineSize).toBe(2047);
  });

  it('loads it with the initramfs in 128 MiB', () => {
    const kernel = new Uint8Array(readFileSync(realKernel));
    const initrd = new Uint8Array(readFileSync(realInitrd));
    const r = loadKernel({ kernel, kernelPath: realKernel, initrd, cmdline: 'console=ttyS0', memorySize: 128 * MiB });
    expect(r.format).toBe('bzimage');
    const { bp, dv } = zeroPage(r);
    expect(new TextDecoder().decode(bp.subarray(0x202, 0x206))).toBe('HdrS');
    const addr = dv.getUint32(0x218, true);
    expect(addr % 4096).toBe(0);
    expect(addr + initrd.length).toBeLessThanOrEqual(128 * MiB);
    expect(dv.getUint32(0x21c, true)).toBe(initrd.length);
    expect(chunkAt(r, addr)[0]).toBe(0x1f); // gzip magic 1F 8B
    expect(chunkAt(r, addr)[1]).toBe(0x8b);
  });
});
