import { describe, expect, it } from 'vitest';
import { loadKernel, type LoadOptions } from '../../src/loaders/index.js';
import { realModeEntry } from '../../src/loaders/flat.js';
import { loadError } from '../support/loaders.js';

const MEM = 16 * 0x100000;

function sector(): Uint8Array {
  const b = new Uint8Array(512);
  b[0] = 0xfa; // cli
  b[1] = 0xf4; // hlt
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

function options(kernel: Uint8Array, more: Partial<LoadOptions> = {}): LoadOptions {
  return { kernel, kernelPath: 'guest.bin', cmdline: '', memorySize: MEM, ...more };
}

describe('flat binaries', () => {
  it('load like a boot sector by default: 0x7C00, real mode 0000:7C00, DL=0x80, SP=0x7C00', () => {
    const k = sector();
    const r = loadKernel(options(k));
    expect(r.format).toBe('flat');
    expect(r.chunks).toEqual([{ addr: 0x7c00, data: k }]);
    expect(r.entry).toEqual({ kind: 'real', cs: 0, ip: 0x7c00 });
    expect(r.regs).toEqual({ edx: 0x80, esp: 0x7c00 });
    expect(r.description).toBe('flat binary guest.bin: 512 bytes at 0x7c00, real mode 0000:7c00');
  });

  it('honour --load-addr, with the entry defaulting to the load address', () => {
    const r = loadKernel(options(sector(), { loadAddr: 0x12345 }));
    expect(r.chunks[0].addr).toBe(0x12345);
    expect(r.entry).toEqual({ kind: 'real', cs: 0x1000, ip: 0x2345 });
  });

  it('honour --entry separately from --load-addr', () => {
    const r = loadKernel(options(sector(), { loadAddr: 0x8000, entry: 0x8010 }));
    expect(r.chunks[0].addr).toBe(0x8000);
    expect(r.entry).toEqual({ kind: 'real', cs: 0, ip: 0x8010 });
  });

  it('enter in flat 32-bit mode with --bits 32, at any address in RAM', () => {
    const r = loadKernel(options(sector(), { loadAddr: 0x200000, bits: 32 }));
    expect(r.chunks[0].addr).toBe(0x200000);
    expect(r.entry).toEqual({ kind: 'flat32', eip: 0x200000 });
    expect(r.regs).toEqual({ esp: 0x7c00 });
  });

  it('refuse a real-mode entry above 1 MiB', () => {
    expect(loadError(options(sector(), { loadAddr: 0x100000 }))).toMatch(/above 1 MiB \(use --bits 32\)/);
  });

  it('refuse an image that does not fit in RAM', () => {
    expect(loadError(options(sector(), { loadAddr: MEM - 511 }))).toMatch(
      /^guest\.bin: 512 bytes loaded at 0xfffe01 do not fit in guest RAM/,
    );
    expect(loadError(options(new Uint8Array(MEM), { memorySize: MEM }))).toMatch(/do not fit in guest RAM/);
  });

  it('refuse an entry point outside RAM', () => {
    expect(loadError(options(sector(), { entry: MEM, bits: 32 }))).toMatch(/entry point 0x1000000 is outside guest RAM/);
  });

  it('refuse a negative or fractional address', () => {
    expect(loadError(options(sector(), { loadAddr: -1 }))).toMatch(/load address -1 is not a valid address/);
    expect(loadError(options(sector(), { entry: 1.5 }))).toMatch(/entry point 1.5 is not a valid address/);
  });

  it('refuse an initrd', () => {
    expect(loadError(options(sector(), { initrd: new Uint8Array(4), initrdPath: 'i' }))).toMatch(/takes no --initrd/);
  });
});

describe('realModeEntry', () => {
  it('splits a linear address into a 64 KiB-aligned segment and an offset', () => {
    expect(realModeEntry(0x7c00)).toEqual({ cs: 0, ip: 0x7c00 });
    expect(realModeEntry(0x10000)).toEqual({ cs: 0x1000, ip: 0 });
    expect(realModeEntry(0x9ffff)).toEqual({ cs: 0x9000, ip: 0xffff });
    expect(realModeEntry(0xffff0)).toEqual({ cs: 0xf000, ip: 0xfff0 });
  });
});
