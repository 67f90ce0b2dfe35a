// Regressions found by differential fuzzing (interpreter against every block compiled): an
// operand in unmapped memory (MMIO) makes the instruction leave run() and be re-executed with the
// monitor's data, and a queued MMIO write ends the block after its instruction. Each program runs
// on the interpreter, with every block compiled, and with multi-block regions; the expected
// values are worked out here from the instruction set's definition.
import { describe, expect, it } from 'vitest';
import type { Regs } from '../../src/hv/types.js';
import { AF, ARITH, CF, flatProtectedVm, OF, PF, SF } from '../support/x86-guest.js';
import { loadCore } from './cores.js';
import type { Core } from './inproc.js';

const R_MMIO = 2, R_HLT = 3;

const cores: Core[] = [await loadCore('interpreter'), await loadCore('compiled'), await loadCore('regions')];

interface Exit { reason: number; addr: number; size: number; write: boolean; data: number; eflags: number }

/**
 * Run `code` at 0x1000 in flat 32-bit protected mode (1 MiB of RAM; everything above is MMIO)
 * to its HLT, answering MMIO reads with `answer(addr, size)`. Returns the exits (with EFLAGS as
 * the monitor sees them at each) and the final registers.
 */
function run(core: Core, code: number[], regs: Partial<Regs>, answer: (addr: number, size: number) => number): { exits: Exit[]; regs: Regs } {
  const { vcpu } = flatProtectedVm(core.Vm, code);
  vcpu.setRegs({ ...vcpu.getRegs(), ...regs });
  const exits: Exit[] = [];
  for (let n = 0; n < 20; n++) {
    const reason = vcpu.run(1000);
    const x = vcpu.exit;
    if (reason === R_MMIO && !x.mmioWrite) x.mmioData = answer(x.mmioAddr, x.mmioSize);
    exits.push({ reason, addr: x.mmioAddr, size: x.mmioSize, write: x.mmioWrite, data: x.mmioData, eflags: vcpu.getRegs().eflags });
    if (reason === R_HLT) return { exits, regs: vcpu.getRegs() };
    expect(reason).toBe(R_MMIO);
  }
  throw new Error('no HLT');
}

describe.each(cores.map((c) => [c.name, c] as const))('MMIO operands (%s)', (_name, core) => {
  it('IMUL r32, [MMIO], imm32: the flags come from the signed product of the data the monitor gave', () => {
    // imul esi, [0xF0000000], 0x21898C57 ; hlt
    const code = [0x69, 0x35, 0x00, 0x00, 0x00, 0xf0, 0x57, 0x8c, 0x89, 0x21, 0xf4];
    // 0xFFFFFFFF is -1: the product -0x21898C57 fits in 32 bits, so CF = OF = 0.
    const { exits, regs } = run(core, code, {}, () => 0xffffffff);
    expect(exits.map((e) => [e.reason, e.addr, e.size, e.write])).toEqual([[R_MMIO, 0xf0000000, 4, false], [R_HLT, 0xf0000000, 4, false]]);
    expect(regs.esi).toBe((-0x21898c57) >>> 0);
    // SF from bit 31 of 0xDE7673A9, PF from its low byte 0xA9 (four bits set), AF clear.
    expect((regs.eflags & ARITH).toString(16)).toBe((SF | PF).toString(16));
  });

  it('SUB [MMIO], r32: the flags are exact at the MMIO write exit that ends the block', () => {
    // sub [eax], esp ; xor eax, 0xF0000000 ; hlt   (XOR rewrites every flag SUB set)
    const code = [0x29, 0x20, 0x35, 0x00, 0x00, 0x00, 0xf0, 0xf4];
    const { exits, regs } = run(core, code, { eax: 0xf0000011, esp: 0x3fb06 }, () => 0xdd3e2765);
    expect(exits.map((e) => [e.reason, e.write, e.data >>> 0])).toEqual([
      [R_MMIO, false, 0xdd3e2765], [R_MMIO, true, 0xdd3a2c5f], [R_HLT, true, 0xdd3a2c5f],
    ]);
    // 0xDD3E2765 - 0x0003FB06 = 0xDD3A2C5F: SF, no carry, a borrow from bit 4 (5 < 6), low byte
    // 0x5F has six bits set.
    expect((exits[1].eflags & ARITH).toString(16)).toBe((SF | AF | PF).toString(16));
    expect(regs.eax).toBe(0x11);
  });

  it('SUB [MMIO], imm; INC; SBB r8, [MMIO]: the carry of the SUB survives the write exit between them', () => {
    // sub dword [0xF0000000], 1 ; inc ecx ; sbb bh, [ebp-0x64300B8] ; hlt
    const code = [0x83, 0x2d, 0x00, 0x00, 0x00, 0xf0, 0x01, 0x41, 0x1a, 0xbd, 0x48, 0xff, 0xbc, 0xf9, 0xf4];
    // ebp - 0x64300B8 = 0xF0000100. The SUB reads 0 (0 - 1 borrows: CF = 1), INC keeps CF, the
    // SBB reads 0: BH = 2 - 0 - 1 = 1.
    const { exits, regs } = run(core, code, { ebx: 0x2cb, ecx: 5, ebp: 0xf64301b8 }, () => 0);
    expect(exits.map((e) => [e.reason, e.addr >>> 0, e.size, e.write])).toEqual([
      [R_MMIO, 0xf0000000, 4, false], [R_MMIO, 0xf0000000, 4, true], [R_MMIO, 0xf0000100, 1, false], [R_HLT, 0xf0000100, 1, false],
    ]);
    expect(exits[1].eflags & CF).toBe(CF);
    expect(regs.ebx.toString(16)).toBe('1cb');
    expect(regs.ecx).toBe(6);
  });
});
