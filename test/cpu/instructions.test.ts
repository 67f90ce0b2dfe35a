// Per-instruction tests for 32-bit code, which the 286 vectors cannot reach. Each case runs in
// flat 32-bit protected mode at CPL 0 (see Flat32 in harness.ts): the bytes, then a HLT.
// Exceptions land on a per-vector HLT, so a case can expect a fault and its pushed EIP.

import { describe, expect, it } from 'vitest';
import { defaultCpuid } from '../../src/cpu/cpuid.js';
import type { Regs } from '../../src/hv/types.js';
import { F32, Flat32 } from './harness.js';

const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
const ARITH = CF | PF | AF | ZF | SF | OF;

const D = F32.DATA;
/** A little-endian 32-bit displacement or immediate. */
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const le16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];

interface Case {
  /** The assembly (Intel syntax). */
  asm: string;
  code: number[];
  regs?: Partial<Regs>;
  flags?: number;
  mem?: Array<[number, number[]]>;
  /** Expected registers after the run. */
  out?: Partial<Regs>;
  /** Expected value of the flags in `flagsMask` (default: the six arithmetic flags). */
  outFlags?: number;
  flagsMask?: number;
  /** Expected dwords in memory. */
  outMem?: Array<[number, number]>;
  /** Expected exception vector (its EIP must be the instruction's). */
  vector?: number;
}

const machine = new Flat32();

function check(c: Case): void {
  const r = machine.run(c.code, c.regs, c.flags ?? 0x2, c.mem);
  expect(r.vector, `${c.asm}: exception vector`).toBe(c.vector ?? -1);
  if (c.vector !== undefined) expect(r.faultEip, `${c.asm}: faulting EIP`).toBe(F32.CODE);
  for (const [k, v] of Object.entries(c.out ?? {})) {
    expect((r.regs[k as keyof Regs] >>> 0).toString(16), `${c.asm}: ${k}`).toBe((v >>> 0).toString(16));
  }
  if (c.outFlags !== undefined) {
    const m = c.flagsMask ?? ARITH;
    expect((r.flags & m).toString(16), `${c.asm}: flags`).toBe((c.outFlags & m).toString(16));
  }
  for (const [a, v] of c.outMem ?? []) {
    expect(machine.read32(a).toString(16), `${c.asm}: [${a.toString(16)}]`).toBe((v >>> 0).toString(16));
  }
}

function table(name: string, cases: Case[]): void {
  describe(name, () => {
    for (const c of cases) it(c.asm, () => check(c));
  });
}

// ------------------------------------------------------------------------------------------------

table('ADD / ADC / SUB / SBB / CMP (32-bit flags)', [
  { asm: 'add eax, ebx ; 0xFFFFFFFF + 1', code: [0x01, 0xd8], regs: { eax: 0xffffffff, ebx: 1 },
    out: { eax: 0 }, outFlags: CF | ZF | AF | PF },
  { asm: 'add eax, ebx ; 0x7FFFFFFF + 1 (signed overflow)', code: [0x01, 0xd8], regs: { eax: 0x7fffffff, ebx: 1 },
    out: { eax: 0x80000000 }, outFlags: OF | SF | AF | PF },
  { asm: 'add eax, ebx ; 0x80000000 + 0x80000000 (carry and overflow)', code: [0x01, 0xd8], regs: { eax: 0x80000000, ebx: 0x80000000 },
    out: { eax: 0 }, outFlags: CF | OF | ZF | PF },
  { asm: 'adc eax, ebx ; 0xFFFFFFFF + 0 + CF', code: [0x11, 0xd8], regs: { eax: 0xffffffff, ebx: 0 }, flags: 0x2 | CF,
    out: { eax: 0 }, outFlags: CF | ZF | AF | PF },
  { asm: 'adc eax, ebx ; 0x7FFFFFFF + 0xFFFFFFFF + CF (carry, no overflow)', code: [0x11, 0xd8], regs: { eax: 0x7fffffff, ebx: 0xffffffff }, flags: 0x2 | CF,
    out: { eax: 0x7fffffff }, outFlags: CF | AF | PF },
  { asm: 'adc eax, ebx ; 0x7FFFFFFF + 0 + CF (overflow from the carry in)', code: [0x11, 0xd8], regs: { eax: 0x7fffffff, ebx: 0 }, flags: 0x2 | CF,
    out: { eax: 0x80000000 }, outFlags: OF | SF | AF | PF },
  { asm: 'adc eax, ebx ; 0xFFFFFFFF + 0xFFFFFFFF + CF', code: [0x11, 0xd8], regs: { eax: 0xffffffff, ebx: 0xffffffff }, flags: 0x2 | CF,
    out: { eax: 0xffffffff }, outFlags: CF | SF | AF | PF },
  { asm: 'sub eax, ebx ; 0 - 1', code: [0x29, 0xd8], regs: { eax: 0, ebx: 1 },
    out: { eax: 0xffffffff }, outFlags: CF | SF | AF | PF },
  { asm: 'sub eax, ebx ; 0x80000000 - 1 (signed overflow)', code: [0x29, 0xd8], regs: { eax: 0x80000000, ebx: 1 },
    out: { eax: 0x7fffffff }, outFlags: OF | AF | PF },
  { asm: 'sbb eax, ebx ; 0 - 0xFFFFFFFF - CF', code: [0x19, 0xd8], regs: { eax: 0, ebx: 0xffffffff }, flags: 0x2 | CF,
    out: { eax: 0 }, outFlags: CF | ZF | AF | PF },
  { asm: 'sbb eax, ebx ; 0x80000000 - 0 - CF (overflow from the borrow in)', code: [0x19, 0xd8], regs: { eax: 0x80000000, ebx: 0 }, flags: 0x2 | CF,
    out: { eax: 0x7fffffff }, outFlags: OF | AF | PF },
  { asm: 'sbb eax, ebx ; 5 - 5 - CF', code: [0x19, 0xd8], regs: { eax: 5, ebx: 5 }, flags: 0x2 | CF,
    out: { eax: 0xffffffff }, outFlags: CF | SF | AF | PF },
  { asm: 'sbb eax, ebx ; 5 - 5 - 0', code: [0x19, 0xd8], regs: { eax: 5, ebx: 5 },
    out: { eax: 0 }, outFlags: ZF | PF },
  { asm: 'cmp eax, -1 ; 83 /7 ib sign-extended', code: [0x83, 0xf8, 0xff], regs: { eax: 0xffffffff },
    out: { eax: 0xffffffff }, outFlags: ZF | PF },
  { asm: 'add dword [ebx+ecx*4+8], eax ; SIB addressing', code: [0x01, 0x44, 0x8b, 0x08],
    regs: { eax: 0x10, ebx: D, ecx: 3 }, mem: [[D + 20, le32(0xfffffff0)]],
    outMem: [[D + 20, 0]], outFlags: CF | ZF | PF },
  { asm: 'inc eax ; CF is kept', code: [0x40], regs: { eax: 0xffffffff }, flags: 0x2 | CF,
    out: { eax: 0 }, outFlags: CF | ZF | AF | PF },
  { asm: 'dec eax ; 0x80000000 - 1 overflows, CF kept clear', code: [0x48], regs: { eax: 0x80000000 },
    out: { eax: 0x7fffffff }, outFlags: OF | AF | PF },
  { asm: 'neg eax ; 0x80000000', code: [0xf7, 0xd8], regs: { eax: 0x80000000 },
    out: { eax: 0x80000000 }, outFlags: CF | OF | SF | PF },
]);

table('MUL / IMUL / DIV / IDIV (32-bit)', [
  { asm: 'mul ebx ; 0xFFFFFFFF²', code: [0xf7, 0xe3], regs: { eax: 0xffffffff, ebx: 0xffffffff },
    out: { eax: 1, edx: 0xfffffffe }, outFlags: CF | OF, flagsMask: CF | OF },
  { asm: 'mul ebx ; 0x12345678 × 0x9ABCDEF0', code: [0xf7, 0xe3], regs: { eax: 0x12345678, ebx: 0x9abcdef0 },
    out: { eax: 0x242d2080, edx: 0x0b00ea4e }, outFlags: CF | OF, flagsMask: CF | OF },
  { asm: 'mul ebx ; high half zero', code: [0xf7, 0xe3], regs: { eax: 0x10000, ebx: 0x10, edx: 0x55 },
    out: { eax: 0x100000, edx: 0 }, outFlags: 0, flagsMask: CF | OF },
  { asm: 'imul ebx ; -1 × 0x80000000', code: [0xf7, 0xeb], regs: { eax: 0xffffffff, ebx: 0x80000000 },
    out: { eax: 0x80000000, edx: 0 }, outFlags: CF | OF, flagsMask: CF | OF },
  { asm: 'imul ebx ; -5 × 0x12345678 (fits)', code: [0xf7, 0xeb], regs: { eax: 0xfffffffb, ebx: 0x12345678 },
    out: { eax: 0xa4fa4fa8, edx: 0xffffffff }, outFlags: 0, flagsMask: CF | OF },
  { asm: 'imul eax, ebx ; 0x40000000 × 2', code: [0x0f, 0xaf, 0xc3], regs: { eax: 0x40000000, ebx: 2 },
    out: { eax: 0x80000000 }, outFlags: CF | OF, flagsMask: CF | OF },
  { asm: 'imul eax, ebx, 0x12345678', code: [0x69, 0xc3, ...le32(0x12345678)], regs: { ebx: 0x10 },
    out: { eax: 0x23456780 }, outFlags: CF | OF, flagsMask: CF | OF },
  { asm: 'imul ecx, ebx, -3', code: [0x6b, 0xcb, 0xfd], regs: { ebx: 7 },
    out: { ecx: 0xffffffeb }, outFlags: 0, flagsMask: CF | OF },
  { asm: 'div ebx ; 2^32 / 2', code: [0xf7, 0xf3], regs: { edx: 1, eax: 0, ebx: 2 },
    out: { eax: 0x80000000, edx: 0 } },
  { asm: 'div ebx ; 0xFFFFFFFE_FFFFFFFF / 0xFFFFFFFF', code: [0xf7, 0xf3], regs: { edx: 0xfffffffe, eax: 0xffffffff, ebx: 0xffffffff },
    out: { eax: 0xffffffff, edx: 0xfffffffe } },
  { asm: 'div ebx ; 0x12345678_9ABCDEF0 / 0x7FFFFFFF', code: [0xf7, 0xf3], regs: { edx: 0x12345678, eax: 0x9abcdef0, ebx: 0x7fffffff },
    out: { eax: 0x2468acf1, edx: 0x3f258be1 } },
  { asm: 'div ebx ; quotient 2^32 overflows: #DE', code: [0xf7, 0xf3], regs: { edx: 1, eax: 0, ebx: 1 },
    vector: 0, out: { edx: 1, eax: 0 } },
  { asm: 'div ebx ; by zero: #DE', code: [0xf7, 0xf3], regs: { edx: 0, eax: 5, ebx: 0 },
    vector: 0, out: { eax: 5 } },
  { asm: 'idiv ebx ; -7 / 2', code: [0xf7, 0xfb], regs: { edx: 0xffffffff, eax: 0xfffffff9, ebx: 2 },
    out: { eax: 0xfffffffd, edx: 0xffffffff } },
  { asm: 'idiv ebx ; 2^32 / -2 = -2^31 (fits)', code: [0xf7, 0xfb], regs: { edx: 1, eax: 0, ebx: 0xfffffffe },
    out: { eax: 0x80000000, edx: 0 } },
  { asm: 'idiv ebx ; -0x12345678_9ABCDEF0 / 0x7FFFFFFF', code: [0xf7, 0xfb], regs: { edx: 0xedcba987, eax: 0x65432110, ebx: 0x7fffffff },
    out: { eax: 0xdb97530f, edx: 0xc0da741f } },
  { asm: 'idiv ebx ; -2^31 / -1 overflows: #DE', code: [0xf7, 0xfb], regs: { edx: 0xffffffff, eax: 0x80000000, ebx: 0xffffffff },
    vector: 0, out: { eax: 0x80000000, edx: 0xffffffff } },
  { asm: 'idiv ebx ; 2^31 / 1 overflows: #DE', code: [0xf7, 0xfb], regs: { edx: 0, eax: 0x80000000, ebx: 1 },
    vector: 0 },
  { asm: 'idiv ebx ; -2^63 / -1 overflows: #DE', code: [0xf7, 0xfb], regs: { edx: 0x80000000, eax: 0, ebx: 0xffffffff },
    vector: 0 },
  { asm: 'div word [ebx] ; 16-bit in 32-bit code: DX:AX / m16', code: [0x66, 0xf7, 0x33], regs: { edx: 0xabcd0001, eax: 0x12340000, ebx: D },
    mem: [[D, le16(0x10)]], out: { eax: 0x12341000, edx: 0xabcd0000 } },
]);

table('SHLD / SHRD', [
  { asm: 'shld eax, ebx, 4', code: [0x0f, 0xa4, 0xd8, 0x04], regs: { eax: 0x12345678, ebx: 0x9abcdef0 },
    out: { eax: 0x23456789, ebx: 0x9abcdef0 }, outFlags: CF, flagsMask: CF | ZF | SF | PF },
  { asm: 'shld eax, ebx, cl ; cl = 0 changes nothing', code: [0x0f, 0xa5, 0xd8], regs: { eax: 0x12345678, ebx: 0xffffffff, ecx: 0 }, flags: 0x2 | CF | ZF,
    out: { eax: 0x12345678 }, outFlags: CF | ZF, flagsMask: ARITH },
  { asm: 'shrd eax, ebx, 8', code: [0x0f, 0xac, 0xd8, 0x08], regs: { eax: 0x12345678, ebx: 0x9abcdef0 },
    out: { eax: 0xf0123456 }, outFlags: SF, flagsMask: CF | ZF | SF },
  { asm: 'shrd eax, ebx, cl ; cl = 36 counts 4', code: [0x0f, 0xad, 0xd8], regs: { eax: 0x12345678, ebx: 0x9abcdef0, ecx: 36 },
    out: { eax: 0x01234567 }, outFlags: CF, flagsMask: CF | ZF | SF },
  { asm: 'shld dword [0x20000], ebx, 1', code: [0x0f, 0xa4, 0x1d, ...le32(D), 0x01], regs: { ebx: 0x80000000 },
    mem: [[D, le32(0x80000001)]], outMem: [[D, 3]], outFlags: CF | OF, flagsMask: CF | OF | SF | ZF },
  { asm: 'shrd ax, bx, 4 ; 16-bit', code: [0x66, 0x0f, 0xac, 0xd8, 0x04], regs: { eax: 0xffff1234, ebx: 0x000a },
    out: { eax: 0xffffa123 }, outFlags: 0, flagsMask: CF },
]);

table('BSF / BSR', [
  { asm: 'bsf eax, ebx', code: [0x0f, 0xbc, 0xc3], regs: { ebx: 0x00010800 }, out: { eax: 11 }, outFlags: 0, flagsMask: ZF },
  { asm: 'bsr eax, ebx', code: [0x0f, 0xbd, 0xc3], regs: { ebx: 0x00010800 }, out: { eax: 16 }, outFlags: 0, flagsMask: ZF },
  { asm: 'bsr eax, ebx ; bit 31', code: [0x0f, 0xbd, 0xc3], regs: { ebx: 0x80000000 }, out: { eax: 31 }, outFlags: 0, flagsMask: ZF },
  { asm: 'bsf eax, ebx ; zero source: ZF, destination kept', code: [0x0f, 0xbc, 0xc3], regs: { eax: 0x1234, ebx: 0 },
    out: { eax: 0x1234 }, outFlags: ZF, flagsMask: ZF },
  { asm: 'bsr ax, bx ; 16-bit', code: [0x66, 0x0f, 0xbd, 0xc3], regs: { eax: 0xaaaa0000, ebx: 0xffff0101 },
    out: { eax: 0xaaaa0008 }, outFlags: 0, flagsMask: ZF },
  { asm: 'bsf ecx, [0x20000]', code: [0x0f, 0xbc, 0x0d, ...le32(D)], mem: [[D, le32(0x80000000)]],
    out: { ecx: 31 }, outFlags: 0, flagsMask: ZF },
]);

table('BT / BTS / BTR / BTC', [
  { asm: 'bt eax, ebx ; register offset 36 counts 4', code: [0x0f, 0xa3, 0xd8], regs: { eax: 0x10, ebx: 36 },
    out: { eax: 0x10 }, outFlags: CF, flagsMask: CF },
  { asm: 'bts eax, 31', code: [0x0f, 0xba, 0xe8, 0x1f], regs: { eax: 0 }, out: { eax: 0x80000000 }, outFlags: 0, flagsMask: CF },
  { asm: 'btr eax, ecx', code: [0x0f, 0xb3, 0xc8], regs: { eax: 0xffffffff, ecx: 3 }, out: { eax: 0xfffffff7 }, outFlags: CF, flagsMask: CF },
  { asm: 'btc eax, 0', code: [0x0f, 0xba, 0xf8, 0x00], regs: { eax: 1 }, out: { eax: 0 }, outFlags: CF, flagsMask: CF },
  { asm: 'bt [0x20008], ebx ; ebx = 100: dword +12, bit 4', code: [0x0f, 0xa3, 0x1d, ...le32(D + 8)], regs: { ebx: 100 },
    mem: [[D + 20, le32(0x10)]], outFlags: CF, flagsMask: CF },
  { asm: 'btr [0x20008], ebx ; ebx = -1: bit 31 of the dword at -4', code: [0x0f, 0xb3, 0x1d, ...le32(D + 8)], regs: { ebx: 0xffffffff },
    mem: [[D + 4, le32(0x80000001)]], outMem: [[D + 4, 1], [D + 8, 0]], outFlags: CF, flagsMask: CF },
  { asm: 'btc [0x20008], ebx ; ebx = -33: bit 31 of the dword at -8', code: [0x0f, 0xbb, 0x1d, ...le32(D + 8)], regs: { ebx: 0xffffffdf },
    outMem: [[D, 0x80000000]], outFlags: 0, flagsMask: CF },
  { asm: 'bts [0x20008], ebx ; ebx = -0x80000000: 256 MiB below', code: [0x0f, 0xab, 0x1d, ...le32(0x10020008)], regs: { ebx: 0x80000000 },
    outMem: [[0x20008, 1]], outFlags: 0, flagsMask: CF },
  { asm: 'bts word [0x20008], bx ; bx = -1: bit 15 of the word at -2', code: [0x66, 0x0f, 0xab, 0x1d, ...le32(D + 8)], regs: { ebx: 0x1234ffff },
    outMem: [[D + 4, 0x80000000]], outFlags: 0, flagsMask: CF },
  { asm: 'btc dword [0x20000], 35 ; immediate offsets count modulo 32', code: [0x0f, 0xba, 0x3d, ...le32(D), 35],
    mem: [[D, le32(0x8)]], outMem: [[D, 0], [D + 4, 0]], outFlags: CF, flagsMask: CF },
]);

table('CMPXCHG / CMPXCHG8B / XADD / BSWAP', [
  { asm: 'cmpxchg ebx, ecx ; equal', code: [0x0f, 0xb1, 0xcb], regs: { eax: 5, ebx: 5, ecx: 9 },
    out: { eax: 5, ebx: 9 }, outFlags: ZF | PF, flagsMask: ARITH },
  { asm: 'cmpxchg ebx, ecx ; not equal', code: [0x0f, 0xb1, 0xcb], regs: { eax: 5, ebx: 6, ecx: 9 },
    out: { eax: 6, ebx: 6 }, outFlags: CF | SF | AF | PF, flagsMask: ARITH },
  { asm: 'lock cmpxchg [0x20000], ecx', code: [0xf0, 0x0f, 0xb1, 0x0d, ...le32(D)], regs: { eax: 7, ecx: 0xabcdef01 },
    mem: [[D, le32(7)]], outMem: [[D, 0xabcdef01]], outFlags: ZF, flagsMask: ZF },
  { asm: 'cmpxchg bl, cl ; byte', code: [0x0f, 0xb0, 0xcb], regs: { eax: 0x11, ebx: 0x2211, ecx: 0x33 },
    out: { ebx: 0x2233 }, outFlags: ZF, flagsMask: ZF },
  { asm: 'cmpxchg8b [0x20000] ; equal', code: [0x0f, 0xc7, 0x0d, ...le32(D)],
    regs: { edx: 0x11111111, eax: 0x22222222, ecx: 0x33333333, ebx: 0x44444444 },
    mem: [[D, [...le32(0x22222222), ...le32(0x11111111)]]],
    outMem: [[D, 0x44444444], [D + 4, 0x33333333]], out: { edx: 0x11111111, eax: 0x22222222 }, outFlags: ZF, flagsMask: ZF },
  { asm: 'cmpxchg8b [0x20000] ; not equal', code: [0x0f, 0xc7, 0x0d, ...le32(D)],
    regs: { edx: 0x11111111, eax: 0x22222222, ecx: 0x33333333, ebx: 0x44444444 }, flags: 0x2 | ZF,
    mem: [[D, [...le32(0x22222222), ...le32(0x11111112)]]],
    outMem: [[D, 0x22222222], [D + 4, 0x11111112]], out: { edx: 0x11111112, eax: 0x22222222 }, outFlags: 0, flagsMask: ZF },
  { asm: 'cmpxchg8b ecx ; register operand: #UD', code: [0x0f, 0xc7, 0xc9], vector: 6 },
  { asm: 'xadd ebx, ecx', code: [0x0f, 0xc1, 0xcb], regs: { ebx: 1, ecx: 0xffffffff },
    out: { ebx: 0, ecx: 1 }, outFlags: CF | ZF | AF | PF },
  { asm: 'xadd ebx, ebx', code: [0x0f, 0xc1, 0xdb], regs: { ebx: 3 }, out: { ebx: 6 } },
  { asm: 'lock xadd [0x20000], eax', code: [0xf0, 0x0f, 0xc1, 0x05, ...le32(D)], regs: { eax: 3 },
    mem: [[D, le32(10)]], outMem: [[D, 13]], out: { eax: 10 } },
  { asm: 'bswap ecx', code: [0x0f, 0xc9], regs: { ecx: 0x12345678 }, out: { ecx: 0x78563412 } },
  { asm: 'bswap edi', code: [0x0f, 0xcf], regs: { edi: 0x80000001 }, out: { edi: 0x01000080 } },
]);

table('MOVZX / MOVSX', [
  { asm: 'movzx eax, bl', code: [0x0f, 0xb6, 0xc3], regs: { eax: 0xffffffff, ebx: 0xff80 }, out: { eax: 0x80 } },
  { asm: 'movsx eax, bl', code: [0x0f, 0xbe, 0xc3], regs: { ebx: 0xff80 }, out: { eax: 0xffffff80 } },
  { asm: 'movzx eax, bh', code: [0x0f, 0xb6, 0xc7], regs: { ebx: 0x9a00 }, out: { eax: 0x9a } },
  { asm: 'movzx eax, word [0x20000]', code: [0x0f, 0xb7, 0x05, ...le32(D)], mem: [[D, le16(0x8001)]], out: { eax: 0x8001 } },
  { asm: 'movsx eax, word [0x20000]', code: [0x0f, 0xbf, 0x05, ...le32(D)], mem: [[D, le16(0x8001)]], out: { eax: 0xffff8001 } },
  { asm: 'movsx ax, bl ; 16-bit destination keeps the high half', code: [0x66, 0x0f, 0xbe, 0xc3], regs: { eax: 0x12345678, ebx: 0x80 },
    out: { eax: 0x1234ff80 } },
]);

// SETcc / CMOVcc for each condition code against two flag states.
const S1 = OF | CF | PF; // OF=1 SF=0 ZF=0 CF=1 PF=1
const S2 = SF | ZF; //      OF=0 SF=1 ZF=1 CF=0 PF=0
//  cc:          O  NO B  AE E  NE BE A  S  NS P  NP L  GE LE G
const TRUE_S1 = [1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0];
const TRUE_S2 = [0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0];
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

const setcc: Case[] = [];
for (let cc = 0; cc < 16; cc++) {
  for (const [state, truth] of [[S1, TRUE_S1], [S2, TRUE_S2]] as const) {
    setcc.push({ asm: `set${CC[cc]} cl ; flags ${state.toString(16)}`, code: [0x0f, 0x90 + cc, 0xc1], regs: { ecx: 0xaaaaaaaa }, flags: 0x2 | state,
      out: { ecx: 0xaaaaaa00 | truth[cc] } });
    setcc.push({ asm: `cmov${CC[cc]} eax, ebx ; flags ${state.toString(16)}`, code: [0x0f, 0x40 + cc, 0xc3], regs: { eax: 1, ebx: 2 }, flags: 0x2 | state,
      out: { eax: truth[cc] ? 2 : 1 } });
  }
}
setcc.push(
  { asm: 'cmp eax, ebx ; setl cl ; setb dl (1 vs -1)', code: [0x39, 0xd8, 0x0f, 0x9c, 0xc1, 0x0f, 0x92, 0xc2], regs: { eax: 1, ebx: 0xffffffff },
    out: { ecx: 0, edx: 1 } },
  { asm: 'test ecx, ecx ; cmovz eax, [0x20000]', code: [0x85, 0xc9, 0x0f, 0x44, 0x05, ...le32(D)], regs: { eax: 1, ecx: 0 },
    mem: [[D, le32(0xcafebabe)]], out: { eax: 0xcafebabe } },
  { asm: 'setg byte [0x20000]', code: [0x0f, 0x9f, 0x05, ...le32(D)], mem: [[D, le32(0xffffffff)]], flags: 0x2,
    outMem: [[D, 0xffffff01]] },
);
table('SETcc / CMOVcc', setcc);

table('LOCK', [
  { asm: 'lock add eax, ebx ; register destination: #UD', code: [0xf0, 0x01, 0xd8], regs: { eax: 1, ebx: 2 }, vector: 6, out: { eax: 1 } },
  { asm: 'lock add [0x20000], ebx', code: [0xf0, 0x01, 0x1d, ...le32(D)], regs: { ebx: 2 }, mem: [[D, le32(40)]], outMem: [[D, 42]] },
  { asm: 'lock mov [0x20000], eax ; MOV does not take LOCK: #UD', code: [0xf0, 0x89, 0x05, ...le32(D)], vector: 6 },
  { asm: 'lock bt [0x20000], eax ; BT does not take LOCK: #UD', code: [0xf0, 0x0f, 0xa3, 0x05, ...le32(D)], vector: 6 },
  { asm: 'lock cmp [0x20000], eax ; CMP does not take LOCK: #UD', code: [0xf0, 0x39, 0x05, ...le32(D)], vector: 6 },
  { asm: 'lock inc ecx ; register destination: #UD', code: [0xf0, 0x41], vector: 6 },
  { asm: 'lock xchg [0x20000], eax', code: [0xf0, 0x87, 0x05, ...le32(D)], regs: { eax: 5 }, mem: [[D, le32(9)]],
    out: { eax: 9 }, outMem: [[D, 5]] },
  { asm: 'lock bts [0x20000], eax', code: [0xf0, 0x0f, 0xab, 0x05, ...le32(D)], regs: { eax: 33 }, outMem: [[D + 4, 2]] },
]);

table('REP string instructions with ECX', [
  { asm: 'rep movsd', code: [0xf3, 0xa5], regs: { esi: D, edi: D + 0x100, ecx: 4 },
    mem: [[D, [...le32(1), ...le32(2), ...le32(3), ...le32(4), ...le32(5)]]],
    out: { ecx: 0, esi: D + 16, edi: D + 0x110 }, outMem: [[D + 0x100, 1], [D + 0x10c, 4], [D + 0x110, 0]] },
  { asm: 'std ; rep movsd (backwards)', code: [0xfd, 0xf3, 0xa5], regs: { esi: D + 12, edi: D + 0x10c, ecx: 4 },
    mem: [[D, [...le32(1), ...le32(2), ...le32(3), ...le32(4)]]],
    out: { ecx: 0, esi: D - 4, edi: D + 0xfc }, outMem: [[D + 0x100, 1], [D + 0x10c, 4]], outFlags: DF, flagsMask: DF },
  { asm: 'rep stosd', code: [0xf3, 0xab], regs: { eax: 0xdeadbeef, edi: D, ecx: 3 },
    out: { ecx: 0, edi: D + 12 }, outMem: [[D, 0xdeadbeef], [D + 8, 0xdeadbeef], [D + 12, 0]] },
  { asm: 'rep stosb ; ECX = 0 does nothing', code: [0xf3, 0xaa], regs: { eax: 0xff, edi: D, ecx: 0 },
    out: { ecx: 0, edi: D }, outMem: [[D, 0]] },
  { asm: 'rep stosb ; ECX = 0x10000 (no 16-bit wrap)', code: [0xf3, 0xaa], regs: { eax: 0x5a, edi: D, ecx: 0x10000 },
    out: { ecx: 0, edi: D + 0x10000 }, outMem: [[D + 0xfffc, 0x5a5a5a5a], [D + 0x10000, 0]] },
  { asm: 'repe cmpsb ; stops at the first difference', code: [0xf3, 0xa6], regs: { esi: D, edi: D + 0x100, ecx: 10 },
    mem: [[D, [0x61, 0x62, 0x63, 0x58]], [D + 0x100, [0x61, 0x62, 0x63, 0x59]]],
    out: { ecx: 6, esi: D + 4, edi: D + 0x104 }, outFlags: CF | SF | AF | PF, flagsMask: ARITH },
  { asm: 'repe cmpsb ; equal for ECX bytes', code: [0xf3, 0xa6], regs: { esi: D, edi: D + 0x100, ecx: 3 },
    mem: [[D, [1, 2, 3, 4]], [D + 0x100, [1, 2, 3, 5]]],
    out: { ecx: 0, esi: D + 3, edi: D + 0x103 }, outFlags: ZF | PF, flagsMask: ARITH },
  { asm: 'repne scasb ; find the zero byte', code: [0xf2, 0xae], regs: { eax: 0, edi: D, ecx: 0xffffffff },
    mem: [[D, [0x68, 0x69, 0x21, 0x00]]], out: { ecx: 0xfffffffb, edi: D + 4 }, outFlags: ZF, flagsMask: ZF },
  { asm: 'rep lodsd', code: [0xf3, 0xad], regs: { esi: D, ecx: 2 }, mem: [[D, [...le32(7), ...le32(8)]]],
    out: { eax: 8, ecx: 0, esi: D + 8 } },
  { asm: 'a16 rep movsb ; CX and SI/DI in 16-bit address size', code: [0x67, 0xf3, 0xa4], regs: { esi: 0xffff0010, edi: 0xffff0020, ecx: 0xffff0002 },
    mem: [[0x10, [0xab, 0xcd]]], out: { ecx: 0xffff0000, esi: 0xffff0012, edi: 0xffff0022 }, outMem: [[0x20, 0xcdab]] },
]);

table('Shifts and rotates (32-bit)', [
  { asm: 'rcl eax, 1', code: [0xd1, 0xd0], regs: { eax: 0x80000000 }, out: { eax: 0 }, outFlags: CF | OF, flagsMask: CF | OF },
  { asm: 'rcr eax, 1 ; CF in', code: [0xd1, 0xd8], regs: { eax: 1 }, flags: 0x2 | CF, out: { eax: 0x80000000 }, outFlags: CF | OF, flagsMask: CF | OF },
  { asm: 'rcl eax, cl ; cl = 31 through CF', code: [0xd3, 0xd0], regs: { eax: 3, ecx: 31 }, flags: 0x2 | CF, out: { eax: 0xc0000000 }, outFlags: CF, flagsMask: CF },
  { asm: 'rcr eax, cl ; cl = 2', code: [0xd3, 0xd8], regs: { eax: 0x00000006, ecx: 2 }, out: { eax: 0x00000001 }, outFlags: CF, flagsMask: CF },
  { asm: 'rol eax, 8', code: [0xc1, 0xc0, 0x08], regs: { eax: 0x12345678 }, out: { eax: 0x34567812 }, outFlags: 0, flagsMask: CF },
  { asm: 'ror eax, 4', code: [0xc1, 0xc8, 0x04], regs: { eax: 0x12345678 }, out: { eax: 0x81234567 }, outFlags: CF, flagsMask: CF },
  { asm: 'sar eax, 31', code: [0xc1, 0xf8, 0x1f], regs: { eax: 0x80000000 }, out: { eax: 0xffffffff }, outFlags: SF | PF, flagsMask: CF | SF | ZF | PF },
  { asm: 'shr eax, 31', code: [0xc1, 0xe8, 0x1f], regs: { eax: 0x80000000 }, out: { eax: 1 }, outFlags: 0, flagsMask: CF | SF | ZF | PF },
  { asm: 'shl eax, cl ; cl = 32 counts 0: nothing changes', code: [0xd3, 0xe0], regs: { eax: 0x80000001, ecx: 32 }, flags: 0x2 | ZF | OF,
    out: { eax: 0x80000001 }, outFlags: ZF | OF },
  { asm: 'shl eax, 1', code: [0xd1, 0xe0], regs: { eax: 0xc0000000 }, out: { eax: 0x80000000 }, outFlags: CF | SF | PF, flagsMask: CF | OF | SF | ZF | PF },
  { asm: 'shr eax, 1', code: [0xd1, 0xe8], regs: { eax: 0x80000001 }, out: { eax: 0x40000000 }, outFlags: CF | OF | PF, flagsMask: CF | OF | SF | ZF | PF },
  { asm: 'sar eax, 1', code: [0xd1, 0xf8], regs: { eax: 0x80000001 }, out: { eax: 0xc0000000 }, outFlags: CF | SF | PF, flagsMask: CF | OF | SF | ZF | PF },
  { asm: 'shl dword [0x20000], 4', code: [0xc1, 0x25, ...le32(D), 0x04], mem: [[D, le32(0x1234567f)]], outMem: [[D, 0x234567f0]], outFlags: CF, flagsMask: CF },
]);

table('Stack frames: ENTER / LEAVE / PUSHAD / POPAD / PUSH ESP / POP ESP', [
  { asm: 'enter 8, 0', code: [0xc8, 0x08, 0x00, 0x00], regs: { ebp: 0x1234 },
    out: { esp: 0x7fff4, ebp: 0x7fffc }, outMem: [[0x7fffc, 0x1234]] },
  { asm: 'enter 4, 2 ; copies one outer frame pointer', code: [0xc8, 0x04, 0x00, 0x02], regs: { ebp: 0x70000 }, mem: [[0x6fffc, le32(0xaaaa)]],
    out: { esp: 0x7fff0, ebp: 0x7fffc }, outMem: [[0x7fffc, 0x70000], [0x7fff8, 0xaaaa], [0x7fff4, 0x7fffc]] },
  { asm: 'enter 0, 1', code: [0xc8, 0x00, 0x00, 0x01], regs: { ebp: 0x5000 },
    out: { esp: 0x7fff8, ebp: 0x7fffc }, outMem: [[0x7fffc, 0x5000], [0x7fff8, 0x7fffc]] },
  { asm: 'enter 8, 0 ; o16: BP gets the low half of ESP', code: [0x66, 0xc8, 0x08, 0x00, 0x00], regs: { ebp: 0xabcd1234 },
    out: { esp: 0x7fff6, ebp: 0xabcdfffe }, outMem: [[0x7fffc, 0x12340000]] },
  { asm: 'leave', code: [0xc9], regs: { ebp: 0x7fff0, esp: 0x7ff00 }, mem: [[0x7fff0, le32(0x5555)]],
    out: { esp: 0x7fff4, ebp: 0x5555 } },
  { asm: 'pushad', code: [0x60], regs: { eax: 1, ecx: 2, edx: 3, ebx: 4, ebp: 6, esi: 7, edi: 8 },
    out: { esp: 0x7ffe0 }, outMem: [[0x7fffc, 1], [0x7fff8, 2], [0x7fff4, 3], [0x7fff0, 4], [0x7ffec, 0x80000], [0x7ffe8, 6], [0x7ffe4, 7], [0x7ffe0, 8]] },
  { asm: 'popad ; the ESP slot is skipped', code: [0x61], regs: { esp: 0x7ffe0 },
    mem: [[0x7ffe0, [...le32(8), ...le32(7), ...le32(6), ...le32(0x1111), ...le32(4), ...le32(3), ...le32(2), ...le32(1)]]],
    out: { eax: 1, ecx: 2, edx: 3, ebx: 4, esp: 0x80000, ebp: 6, esi: 7, edi: 8 } },
  { asm: 'push esp ; the value before the push', code: [0x54], out: { esp: 0x7fffc }, outMem: [[0x7fffc, 0x80000]] },
  { asm: 'pop esp', code: [0x5c], regs: { esp: 0x7fffc }, mem: [[0x7fffc, le32(0x12345)]], out: { esp: 0x12345 } },
  { asm: 'pop dword [esp] ; addressed with ESP after the pop', code: [0x8f, 0x04, 0x24], regs: { esp: 0x7fff8 },
    mem: [[0x7fff8, [...le32(0x11), ...le32(0x22)]]], out: { esp: 0x7fffc }, outMem: [[0x7fffc, 0x11]] },
]);

table('XLAT / BOUND (32-bit)', [
  { asm: 'xlatb', code: [0xd7], regs: { eax: 0xffffff05, ebx: D }, mem: [[D, [0, 1, 2, 3, 4, 0x99]]], out: { eax: 0xffffff99 } },
  { asm: 'bound eax, [0x20000] ; inside', code: [0x62, 0x05, ...le32(D)], regs: { eax: 0xfffffffb },
    mem: [[D, [...le32(0xfffffffb), ...le32(10)]]], out: { eax: 0xfffffffb } },
  { asm: 'bound eax, [0x20000] ; above: #BR', code: [0x62, 0x05, ...le32(D)], regs: { eax: 11 },
    mem: [[D, [...le32(0xfffffffb), ...le32(10)]]], vector: 5 },
  { asm: 'bound eax, [0x20000] ; below (signed): #BR', code: [0x62, 0x05, ...le32(D)], regs: { eax: 0x80000000 },
    mem: [[D, [...le32(0xfffffffb), ...le32(10)]]], vector: 5 },
]);

// ------------------------------------------------------------------------------------------------

describe('CPUID', () => {
  it('cpuid ; leaf 0: vendor and highest leaf', () => {
    const r = machine.run([0x0f, 0xa2], { eax: 0 });
    expect(r.vector).toBe(-1);
    expect(r.regs.eax).toBeGreaterThanOrEqual(1);
    const s = [r.regs.ebx, r.regs.edx, r.regs.ecx].map((v) => String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24)).join('');
    expect(s).toBe('GenuineIntel');
  });
  it('cpuid ; leaf 1: family 6, TSC, CX8 and CMOV reported', () => {
    const r = machine.run([0x0f, 0xa2], { eax: 1 });
    expect((r.regs.eax >>> 8) & 0xf).toBe(6);
    const edx = r.regs.edx;
    expect(edx & (1 << 4)).not.toBe(0); // TSC
    expect(edx & (1 << 8)).not.toBe(0); // CX8
    expect(edx & (1 << 15)).not.toBe(0); // CMOV
  });
  it('cpuid ; answers from the table set with setCpuid', () => {
    const table = [{ function: 0, index: 0, significantIndex: false, eax: 1, ebx: 0x11, ecx: 0x22, edx: 0x33 },
      { function: 1, index: 0, significantIndex: false, eax: 0x633, ebx: 0, ecx: 0, edx: 0x8110 }];
    machine.vcpu.setCpuid(table);
    try {
      const r = machine.run([0x0f, 0xa2], { eax: 0 });
      expect([r.regs.eax, r.regs.ebx, r.regs.ecx, r.regs.edx]).toEqual([1, 0x11, 0x22, 0x33]);
    } finally {
      machine.vcpu.setCpuid(defaultCpuid());
    }
  });
});

describe('RDTSC', () => {
  it('rdtsc ; mov ebx, eax ; mov ecx, edx ; rdtsc — the counter advances', () => {
    const r = machine.run([0x0f, 0x31, 0x89, 0xc3, 0x89, 0xd1, 0x0f, 0x31]);
    const t0 = r.regs.ecx * 2 ** 32 + r.regs.ebx;
    const t1 = r.regs.edx * 2 ** 32 + r.regs.eax;
    expect(t1).toBeGreaterThan(t0);
  });
  it('rdtsc ; follows a TSC written through the MSR interface', () => {
    const r = machine.run([0x0f, 0x31], {}, 0x2, [], [{ index: 0x10, value: 0x5_0000_0000n }]);
    expect(r.regs.edx).toBe(5);
    expect(r.regs.eax).toBeLessThan(1000);
  });
});
