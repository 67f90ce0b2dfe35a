import { describe, expect, it } from 'vitest';
import { detectFormat, loadKernel, type LoadOptions } from '../../src/loaders/index.js';
import { MULTIBOOT_AOUT_KLUDGE, MULTIBOOT_HEADER_MAGIC } from '../../src/loaders/multiboot.js';
import { loadError } from '../support/loaders.js';

const MEM = 16 * 0x100000;

function options(kernel: Uint8Array, more: Partial<LoadOptions> = {}): LoadOptions {
  return { kernel, kernelPath: 'k', cmdline: '', memorySize: MEM, ...more };
}

/** A 1 KiB a.out-kludge multiboot image loaded at 1 MiB. */
function multiboot(): Uint8Array {
  const file = new Uint8Array(0x400);
  const dv = new DataView(file.buffer);
  const flags = MULTIBOOT_AOUT_KLUDGE;
  [MULTIBOOT_HEADER_MAGIC, flags, -(MULTIBOOT_HEADER_MAGIC + flags), 0x100000, 0x100000, 0, 0, 0x100020].forEach(
    (w, i) => dv.setUint32(i * 4, w >>> 0, true),
  );
  return file;
}

/** The start of a Linux bzImage: boot signature and the "HdrS" setup header magic. */
function bzImage(): Uint8Array {
  const file = new Uint8Array(0x1000);
  file[0x1fe] = 0x55;
  file[0x1ff] = 0xaa;
  file.set([0x48, 0x64, 0x72, 0x53], 0x202);
  return file;
}

function plainElf(): Uint8Array {
  const file = new Uint8Array(0x100);
  file.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  return file;
}

describe('loadKernel: format detection', () => {
  it('recognises multiboot, bzImage, ELF and falls back to flat', () => {
    expect(detectFormat(multiboot())).toBe('multiboot');
    expect(detectFormat(bzImage())).toBe('bzimage');
    expect(detectFormat(plainElf())).toBe('elf');
    expect(detectFormat(new Uint8Array([0xeb, 0xfe]))).toBe('flat');
    expect(loadKernel(options(multiboot())).format).toBe('multiboot');
    expect(loadKernel(options(new Uint8Array([0xeb, 0xfe]))).format).toBe('flat');
  });

  it('prefers the multiboot header over the bzImage signature', () => {
    const both = bzImage();
    both.set(multiboot().subarray(0, 32), 0x400);
    const dv = new DataView(both.buffer);
    dv.setUint32(0x400 + 12, 0x100400, true); // header_addr: the header is at file offset 0x400
    expect(detectFormat(both)).toBe('multiboot');
    expect(loadKernel(options(both)).format).toBe('multiboot');
  });

  it('hands a bzImage to the boot-protocol loader (which checks its header)', () => {
    expect(loadError(options(bzImage()))).toMatch(/^k: Linux boot protocol too old/);
  });

  it('says an ELF without a multiboot header is not a kernel vmrun boots', () => {
    expect(loadError(options(plainElf()))).toBe(
      'k: an ELF file without a multiboot header (no magic 0x1badb002 in its first 8192 bytes): vmrun boots ELF kernels through multiboot only',
    );
  });

  it('refuses an empty file', () => {
    expect(loadError(options(new Uint8Array(0)))).toBe('k: file is empty');
  });

  it('refuses a memory size that is not a positive integer', () => {
    expect(loadError(options(new Uint8Array(1), { memorySize: 0 }))).toMatch(/memory size 0/);
  });

  it('refuses flat-binary options for a kernel in a known format', () => {
    expect(loadError(options(multiboot(), { bits: 32 }))).toMatch(
      /a multiboot kernel; --load-addr, --entry and --bits apply only to flat binaries/,
    );
  });
});

describe('a file that is not a kernel', () => {
  const text = new TextEncoder().encode('# vmrun\n\nA README is not a kernel.\n');
  const base = { kernelPath: 'README.md', memorySize: 16 << 20 };
  it('is refused when it reads as text and has no boot-sector signature', () => {
    expect(() => loadKernel({ ...base, kernel: text })).toThrow(/not a kernel/);
  });
  it('still loads as a flat binary when the user asks for it with --bits', () => {
    expect(loadKernel({ ...base, kernel: text, bits: 16 }).format).toBe('flat');
  });
  it('binary bytes without a header are a flat binary, as a BIOS would load them', () => {
    expect(loadKernel({ ...base, kernel: new Uint8Array([0xfa, 0xf4, 0x00]) }).format).toBe('flat');
  });
});
