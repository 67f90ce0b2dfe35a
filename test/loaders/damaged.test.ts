// Mutated copies of the real images: a file that carries the marks of a known format but fails
// one of its checks is refused with a line naming the format and the check, never run as a flat
// binary from 0000:7C00.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { detectFormat, loadKernel, LoadError, type LoadOptions } from '../../src/loaders/index.js';
import { loadError } from '../support/loaders.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const image = (path: string): Uint8Array => new Uint8Array(readFileSync(root + path));
const BZIMAGE = image('images/linux/bzImage');
const BZIMAGE_XZ = image('images/linux/bzImage-xz');
const SYSSIZE = new DataView(BZIMAGE.buffer, BZIMAGE.byteOffset).getUint32(0x1f4, true) * 16;
const MULTIBOOT_GUESTS = ['faults', 'ring3', 'taskswitch', 'v86'].map((g) => [g, image(`images/guests/${g}.bin`)] as const);
const MEM = 128 << 20;

function options(kernel: Uint8Array, more: Partial<LoadOptions> = {}): LoadOptions {
  return { kernel, kernelPath: 'k', memorySize: MEM, ...more };
}

/** A copy with bytes replaced: [offset, value] pairs, or a little-endian u16/u32 with `width`. */
function mutate(original: Uint8Array, ...edits: [number, number, (1 | 2 | 4)?][]): Uint8Array {
  const copy = original.slice();
  const dv = new DataView(copy.buffer);
  for (const [offset, value, width = 1] of edits) {
    if (width === 1) copy[offset] = value;
    else if (width === 2) dv.setUint16(offset, value, true);
    else dv.setUint32(offset, value >>> 0, true);
  }
  return copy;
}

describe('the real images load as what they are', () => {
  it('bzImage, bzImage-xz and the multiboot guests', () => {
    expect(loadKernel(options(BZIMAGE)).format).toBe('bzimage');
    expect(loadKernel(options(BZIMAGE_XZ)).format).toBe('bzimage');
    for (const [, bytes] of MULTIBOOT_GUESTS) expect(loadKernel(options(bytes)).format).toBe('multiboot');
  });
});

describe('a Linux image with a damaged setup header', () => {
  it.each([0, 1, 2, 3])('"HdrS" damaged in its byte %i: refused as a damaged Linux image', (k) => {
    const offset = 0x202 + k;
    for (const original of [BZIMAGE, BZIMAGE_XZ]) {
      const bad = mutate(original, [offset, original[offset] ^ 0x20]);
      expect(detectFormat(bad)).toBe('damaged');
      expect(loadError(options(bad))).toMatch(
        /^k: not loadable: a Linux kernel image \(boot flag 0xAA55, setup header layout, protocol version\) whose "HdrS" magic at 0x202 is damaged \(bytes [0-9a-f ]+\) \(give --bits/,
      );
    }
  });

  it('can still be run as a flat binary when the user asks for it', () => {
    const bad = mutate(BZIMAGE, [0x202, 0x00]);
    expect(loadKernel(options(bad, { bits: 16 })).format).toBe('flat');
  });

  it.each([
    ['a protocol too old', [[0x206, 0x0201, 2]], /Linux boot protocol too old: version 2\.01/],
    ['a version that is not 2.xx', [[0x206, 0x030f, 2]], /\("HdrS", protocol 3\.15\): version 0x30f is not a 2\.xx boot protocol/],
    ['a broken boot flag', [[0x1fe, 0x00]], /no boot signature 0xAA55 at offset 0x1fe/],
    ['no short jump at 0x200', [[0x200, 0xe9]], /the jump at 0x200 is 0xe9, not a short jump/],
    ['a header shorter than its version', [[0x201, 0x46]], /the header ends at 0x248 \(jump length 0x46\), before the fields of its version, which end at 0x26c/],
    ['syssize 0', [[0x1f4, 0, 4]], /syssize is 0/],
    ['setup_sects one too few', [[0x1f1, 30]], /payload_offset 0x79 \(after 30 setup sectors\) does not point at a compressed kernel/],
    // syssize (at 0x1F4, in 16-byte units) is what the header says; one setup sector more leaves
    // 512 bytes fewer of the file for the protected-mode kernel.
    ['setup_sects one too many', [[0x1f1, 32]], new RegExp(`file is truncated: the header says the protected-mode kernel has ${SYSSIZE} bytes, the file holds ${BZIMAGE.length - 33 * 512}`)],
    ['payload_offset moved', [[0x248, 0x7a, 4]], /payload_offset 0x7a .* does not point at a compressed kernel/],
    ['payload_length past the end', [[0x24c, 0x7fffffff, 4]], /the payload \[0x79, 0x80000078\) runs past the end of the protected-mode code/],
    ['kernel_info_offset moved', [[0x268, 0x1000, 4]], /kernel_info_offset 0x1000 .* does not point at the "LToP" kernel_info/],
    ['init_size 0', [[0x260, 0, 4]], /init_size is 0/],
    ['pref_address below 1 MiB', [[0x258, 0x8000, 4]], /pref_address 0x8000 is below 1 MiB/],
    ['a zImage', [[0x211, 0x00]], /a zImage \(loaded low, at 0x10000\) is not supported/],
    ['syssize past the end of the file', [[0x1f4, 0x10000000, 4]], /file is truncated: the header says the protected-mode kernel has/],
  ] as const)('%s is refused, naming the check', (_what, edits, message) => {
    const bad = mutate(BZIMAGE, ...(edits as unknown as [number, number, (1 | 2 | 4)?][]));
    expect(detectFormat(bad)).toBe('bzimage');
    expect(loadError(options(bad))).toMatch(message);
  });

  it('a relocatable kernel with a kernel_alignment that is not a power of two is refused', () => {
    const bad = mutate(BZIMAGE, [0x234, 1], [0x230, 0x300000, 4]);
    expect(loadError(options(bad))).toMatch(/kernel_alignment 0x300000 of a relocatable kernel is not a power of two/);
  });

  it('no one-byte change to the setup header makes it a flat binary', () => {
    // Every byte from setup_sects to the end of the 2.15 header, set to 0, 0xFF and flipped in
    // its lowest and highest bit: each copy loads as a bzImage or is refused as one.
    let refused = 0;
    for (let offset = 0x1f1; offset < 0x26c; offset++) {
      const values = new Set([0x00, 0xff, BZIMAGE[offset] ^ 0x01, BZIMAGE[offset] ^ 0x80]);
      values.delete(BZIMAGE[offset]);
      for (const v of values) {
        const bad = mutate(BZIMAGE, [offset, v]);
        let result: string;
        try {
          result = loadKernel(options(bad)).format;
        } catch (e) {
          expect(e, `0x${offset.toString(16)} = 0x${v.toString(16)}`).toBeInstanceOf(LoadError);
          result = 'refused';
          refused++;
        }
        expect(['bzimage', 'refused'], `0x${offset.toString(16)} = 0x${v.toString(16)}`).toContain(result);
      }
    }
    expect(refused).toBeGreaterThan(50);
  });
});

describe('a multiboot image with a damaged header', () => {
  it.each(MULTIBOOT_GUESTS)('%s: a damaged magic is refused as a damaged multiboot header', (_name, original) => {
    for (let offset = 0; offset < 4; offset++) {
      const bad = mutate(original, [offset, original[offset] ^ 0x04]);
      expect(detectFormat(bad)).toBe('damaged');
      expect(loadError(options(bad))).toMatch(
        /^k: not loadable: a multiboot header at offset 0x0 with a damaged magic: its flags and checksum belong to the magic 0x1badb002, the file has 0x[0-9a-f]+ \(give --bits/,
      );
    }
  });

  it.each(MULTIBOOT_GUESTS)('%s: a damaged flags or checksum field is a bad checksum', (_name, original) => {
    for (const offset of [4, 5, 8, 11]) {
      const bad = mutate(original, [offset, original[offset] ^ 0x10]);
      expect(loadError(options(bad))).toMatch(/multiboot header at offset 0x0 has a bad checksum/);
    }
  });

  it.each(MULTIBOOT_GUESTS)('%s: no one-byte change to the header makes it a flat binary', (_name, original) => {
    for (let offset = 0; offset < 32; offset++) {
      for (const v of [0x00, 0xff, original[offset] ^ 0x01, original[offset] ^ 0x80]) {
        if (v === original[offset]) continue;
        const bad = mutate(original, [offset, v]);
        let result: string;
        try {
          result = loadKernel(options(bad)).format;
        } catch (e) {
          expect(e).toBeInstanceOf(LoadError);
          result = 'refused';
        }
        expect(['multiboot', 'refused'], `offset ${offset} = 0x${v.toString(16)}`).toContain(result);
      }
    }
  });
});

describe('an ELF file', () => {
  // A real ELF file: the first 64 KiB of the Node executable running this test.
  const elf = new Uint8Array(readFileSync(process.execPath).subarray(0, 65536));

  it('without a multiboot header is refused as such', () => {
    expect(detectFormat(elf)).toBe('elf');
    expect(loadError(options(elf))).toMatch(/^k: an ELF file without a multiboot header \(no magic 0x1badb002 in its first 8192 bytes\)/);
  });

  it.each([0, 1, 2, 3])('with its magic damaged at byte %i is refused as a damaged ELF file', (offset) => {
    const bad = mutate(elf, [offset, elf[offset] ^ 0x02]);
    expect(detectFormat(bad)).toBe('damaged');
    expect(loadError(options(bad))).toMatch(/^k: not loadable: an ELF file whose magic is damaged \(bytes [0-9a-f ]+, not 7f 45 4c 46\)/);
  });
});

describe('boot sectors stay flat binaries', () => {
  it.each(['hello', 'spin', 'pit-tick', 'uart-irq', 'pm-paging', 'triple-fault', 'bad-opcode', 'cpuloop', 'fault-loop'])('%s', (g) => {
    expect(loadKernel(options(image(`images/guests/${g}.bin`))).format).toBe('flat');
  });
});
