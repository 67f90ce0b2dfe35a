// Flags that cross instructions inside a compiled block: a rotate keeps SF, ZF, AF and PF from
// the ALU operation before it, INC/DEC keep its CF, a zero-count shift keeps everything. The
// compilers derive those from the earlier instruction's operands rather than from the lazy
// record, so each case is a short sequence run with every block compiled (the threshold is 1)
// and checked against flags worked out by hand; compiled-flags-interp.test.ts runs the same
// cases in the interpreter.
process.env.VMRUN_JIT_THRESHOLD ??= '1';
const { describe, expect, it } = await import('vitest');
const { Flat32 } = await import('./harness.js');
const { AF, ARITH, CF, OF, PF, SF, ZF } = await import('../support/x86-guest.js');

interface Case { asm: string; code: number[]; regs: Record<string, number>; flags: number; out?: Record<string, number>; inFlags?: number }

const cases: Case[] = [
  // 0x0f + 1 = 0x10: AF, PF clear (one bit); ROL 0x80000001 by 1 = 3: CF, OF = MSB ^ CF = 1
  { asm: 'add eax, ebx; rol ecx, 1', code: [0x01, 0xd8, 0xd1, 0xc1], regs: { eax: 0x0f, ebx: 1, ecx: 0x80000001 }, flags: AF | CF | OF, out: { eax: 0x10, ecx: 3 } },
  // 0 after SUB: ZF, PF; ROR 2 by 1 = 1: CF = MSB = 0, OF = 0
  { asm: 'sub eax, eax; ror edx, 1', code: [0x29, 0xc0, 0xd1, 0xca], regs: { eax: 5, edx: 2 }, flags: ZF | PF, out: { eax: 0, edx: 1 } },
  // 8-bit: 0xff + 0x81 = 0x80 (carry out): SF, AF, PF clear; ROL 0 by 1: CF = OF = 0
  { asm: 'add al, bl; rol ecx, 1', code: [0x00, 0xd8, 0xd1, 0xc1], regs: { eax: 0xff, ebx: 0x81, ecx: 0 }, flags: SF | AF, out: { eax: 0x80 } },
  // XOR (AF 0) to 0x80000000: SF; ROL by 5 of ebx: the same ebx = 0x10, CF = 0, OF = 0
  { asm: 'xor ebx, edx; rol ebx, 5', code: [0x31, 0xd3, 0xc1, 0xc3, 0x05], regs: { ebx: 0x80000001, edx: 0x80000001 }, flags: ZF | PF, out: { ebx: 0 } },
  // CF from ADD survives DEC: 0xfffffffe + 4 carries; DEC 1 = 0: ZF, PF
  { asm: 'add esi, 4; dec ecx', code: [0x83, 0xc6, 0x04, 0x49], regs: { esi: 0xfffffffe, ecx: 1 }, flags: CF | ZF | PF, out: { esi: 2, ecx: 0 } },
  // CF from SUB (borrow) survives INC of memory-free register; INC 0x7fffffff: OF, SF, AF, PF
  { asm: 'sub eax, ebx; inc edx', code: [0x29, 0xd8, 0x42], regs: { eax: 1, ebx: 2, edx: 0x7fffffff }, flags: CF | OF | SF | AF | PF, out: { eax: 0xffffffff, edx: 0x80000000 } },
  // SHL by 0 (CL = 0) keeps the ADD's flags: 0x7fffffff + 1: OF, SF, AF, PF
  { asm: 'add eax, ebx; shl edx, cl', code: [0x01, 0xd8, 0xd3, 0xe2], regs: { eax: 0x7fffffff, ebx: 1, ecx: 0, edx: 7 }, flags: OF | SF | AF | PF, out: { edx: 7 } },
  // SHR by 1 after AND: CF = the bit out, OF = the old MSB, SF/ZF/PF of the result (PF of 0x01: clear)
  { asm: 'and eax, ebx; shr ecx, 1', code: [0x21, 0xd8, 0xd1, 0xe9], regs: { eax: 1, ebx: 1, ecx: 0x80000003 }, flags: CF | OF, out: { ecx: 0x40000001 } },
  // ADC/SBB take the carry of the instruction before: 0xffffffff + 1 carries; 1 + 2 + 1 = 4, no flags
  { asm: 'add eax, ebx; adc ecx, edx', code: [0x01, 0xd8, 0x11, 0xd1], regs: { eax: 0xffffffff, ebx: 1, ecx: 1, edx: 2 }, flags: 0, out: { eax: 0, ecx: 4 } },
  // 1 - 2 borrows; 5 - 1 - 1 = 3: PF
  { asm: 'sub eax, ebx; sbb ecx, edx', code: [0x29, 0xd8, 0x19, 0xd1], regs: { eax: 1, ebx: 2, ecx: 5, edx: 1 }, flags: PF, out: { ecx: 3 } },
  // INC after ADC takes CF from ADC's lazy record: 5 + 0xffffffff + CF 1 = 5 carries out (the
  // result equals the first operand with a carry in); INC 5 = 6: PF
  { asm: 'adc eax, ebx; inc ecx (CF in)', code: [0x11, 0xd8, 0x41], regs: { eax: 5, ebx: 0xffffffff, ecx: 5 }, inFlags: 0x3, flags: CF | PF, out: { eax: 5, ecx: 6 } },
  // SBB with a borrow in: 5 - 5 - 1 borrows (the operands are equal); DEC 2 = 1: the borrow kept
  { asm: 'sbb eax, ebx; dec ecx (CF in)', code: [0x19, 0xd8, 0x49], regs: { eax: 5, ebx: 5, ecx: 2 }, inFlags: 0x3, flags: CF, out: { eax: 0xffffffff, ecx: 1 } },
];

const machine = new Flat32();

describe('flags across the instructions of a compiled block', () => {
  for (const c of cases) {
    it(c.asm, () => {
      const r = machine.run(c.code, c.regs, c.inFlags ?? 0x2, []);
      expect(r.vector, `${c.asm}: exception`).toBe(-1);
      for (const [k, v] of Object.entries(c.out ?? {})) {
        expect((r.regs[k as keyof typeof r.regs] >>> 0).toString(16), `${c.asm}: ${k}`).toBe((v >>> 0).toString(16));
      }
      expect((r.flags & ARITH).toString(16), `${c.asm}: flags`).toBe(c.flags.toString(16));
    });
  }
});
