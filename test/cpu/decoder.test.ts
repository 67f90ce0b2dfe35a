// The decoder's classification of relative branches, and the blocks it marks as tight loops (a
// block whose last instruction branches back to its first is compiled at a tenth of the
// threshold: see Cpu.runBlock).
import { describe, expect, it } from 'vitest';
import { Cpu } from '../../src/cpu/cpu.js';
import { Insn, decodeBlock, decodeInsn, relativeBranch } from '../../src/cpu/decoder.js';
import { PhysicalMemory } from '../../src/cpu/memory.js';

const MB = 1 << 20;
const AT = 0x1000;

/** A core in real mode with CS base 0 and `code` at AT. */
function cpuWith(code: number[]): Cpu {
  const mem = new PhysicalMemory(MB);
  mem.map(0, MB, 0, false);
  mem.u8.set(code, AT);
  const cpu = new Cpu(mem);
  const s = cpu.getSregs();
  s.cs = { ...s.cs, selector: 0, base: 0 };
  cpu.setSregs(s);
  return cpu;
}

describe('relativeBranch', () => {
  const cases: Array<[string, number[], boolean, { disp: number; conditional: boolean } | null]> = [
    ['jnz rel8 -3', [0x75, 0xfd], true, { disp: -3, conditional: true }],
    ['loop rel8 +5', [0xe2, 0x05], true, { disp: 5, conditional: true }],
    ['jz rel32 -7', [0x0f, 0x84, 0xf9, 0xff, 0xff, 0xff], true, { disp: -7, conditional: true }],
    ['jmp rel8 +5', [0xeb, 0x05], true, { disp: 5, conditional: false }],
    ['jmp rel32 -3', [0xe9, 0xfd, 0xff, 0xff, 0xff], true, { disp: -3, conditional: false }],
    ['call rel32 +16', [0xe8, 0x10, 0, 0, 0], true, { disp: 16, conditional: false }],
    ['ret', [0xc3], true, null],
    ['jmp eax', [0xff, 0xe0], true, null],
    ['nop', [0x90], true, null],
  ];
  for (const [name, code, code32, want] of cases) {
    it(name, () => {
      const i = new Insn();
      decodeInsn(cpuWith(code), AT, code32, i);
      expect(relativeBranch(i)).toEqual(want);
    });
  }
});

describe('Block.selfLoop', () => {
  const cases: Array<[string, number[], boolean, boolean]> = [
    ['dec cx ; jnz to the block start (16-bit)', [0x49, 0x75, 0xfd], false, true],
    ['dec cx ; jnz one byte short of it', [0x49, 0x75, 0xfc], false, false],
    ['jmp rel16 to itself (the 16-bit displacement wraps)', [0xe9, 0xfd, 0xff], false, true],
    ['call rel16 to itself (a call is no loop)', [0xe8, 0xfd, 0xff], false, false],
    ['dec ecx ; jnz rel32 to the block start (32-bit)', [0x49, 0x0f, 0x85, 0xf9, 0xff, 0xff, 0xff], true, true],
    ['dec ecx ; ret', [0x49, 0xc3], true, false],
  ];
  for (const [name, code, code32, want] of cases) {
    it(name, () => {
      const block = decodeBlock(cpuWith(code), AT, code32, AT * 2 + (code32 ? 1 : 0));
      expect(block.insns.length).toBe(code[0] === 0x49 ? 2 : 1);
      expect(block.selfLoop).toBe(want);
    });
  }
});
