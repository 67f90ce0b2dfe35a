// x87 instructions driven through the hv API: each program runs in flat 32-bit protected mode,
// ends with FNSAVE to a dump area and HLT, and the dump (control/status/tag words, pointers and
// the eight registers) is checked. Bit-exact arithmetic against a physical x87 and the
// transcendentals against correctly rounded references are in fpu-hw.test.ts and
// fpu-trans.test.ts; this file covers every instruction form, the stack, exceptions (masked and
// unmasked, #MF, #NM, #UD, #GP) and the state images (FSTENV/FSAVE/FXSAVE).

import { beforeEach, describe, expect, it } from 'vitest';
import { X87 } from '../../src/cpu/fpu.js';
import { ExitReason } from '../../src/hv/exit.js';
import {
  CODE, CR0_EM, CR0_ET, CR0_MP, CR0_NE, CR0_PE, CR0_TS, FpuMachine, I, MF_ENV, type RunResult, cwOf, ext,
  extHex, extToNumber, f32bytes, f64bytes, le16, le32, x80,
} from './fpu-harness.js';

const m = new FpuMachine();
beforeEach(() => m.resetData());

// Status-word bits.
const IE = 0x1, DE = 0x2, ZE = 0x4, OE = 0x8, UE = 0x10, PE = 0x20, SF = 0x40, ES = 0x80;
const C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, B = 0x8000;
const FLAGS = 0x7f;

/** Load a sequence of doubles so that the first ends up in ST(0). */
function loads(...vals: number[]): number[] {
  const code: number[] = [];
  for (let k = vals.length - 1; k >= 0; k--) code.push(...I.fld80(m.data(ext(vals[k]))));
  return code;
}

const cw = (v: number) => I.fldcw(m.data(le16(v)));
const st = (r: RunResult, i: number) => extToNumber(r.save.st[i]);
const hexSt = (r: RunResult, i: number) => extHex(r.save.st[i]);

function ok(r: RunResult): RunResult {
  expect(r.errReason).toBe('');
  expect(r.exit).toBe(ExitReason.Hlt);
  expect(r.vector).toBe(-1);
  return r;
}

describe('initialisation and probing', () => {
  it('FNINIT, FNSTSW AX and FNSTCW give the probe values Linux checks', () => {
    const cwAt = m.data([0xaa, 0xaa]);
    const r = ok(m.run([...I.movEaxImm(0x5a5a5a5a), ...I.fninit, ...I.fnstswAx, ...I.fnstcw(cwAt)]));
    expect(r.eax).toBe(0x5a5a0000);
    expect([...m.read(cwAt, 2)]).toEqual([0x7f, 0x03]);
    expect(r.save.tw).toBe(0xffff);
  });

  it("Linux's FDIV-bug check (fpu__init_check_bugs) computes 0", () => {
    // fninit ; fldl x ; fdivl y ; fmull y ; fldl x ; fsubp %st,%st(1) ; fistpl r ; fwait ; fninit
    const x = m.data(f64bytes(4195835.0)), y = m.data(f64bytes(3145727.0)), out = m.data(le32(0x55555555));
    const r = ok(m.run([
      ...I.fninit, ...I.fld64(x), ...I.arithMem(0xdc, 6, y), ...I.arithMem(0xdc, 1, y), ...I.fld64(x),
      0xde, 0xe9, ...I.fistp32(out), ...I.fwait, ...I.fninit,
    ]));
    expect([...m.read(out, 4)]).toEqual([0, 0, 0, 0]);
    expect(r.save.tw).toBe(0xffff);
  });

  it('a new vCPU starts in the FNINIT state', () => {
    const r = ok(m.run([]));
    expect(r.save.cw).toBe(0x037f);
    expect(r.save.sw).toBe(0);
    expect(r.save.tw).toBe(0xffff);
  });

  it('CPUID leaf 1 reports the FPU (bit 0) and FXSR (bit 24)', () => {
    const r = ok(m.run([...I.movEaxImm(1), 0x0f, 0xa2, 0x89, 0xd0 /* mov eax, edx */]));
    expect(r.eax & 1).toBe(1);
    expect((r.eax >>> 24) & 1).toBe(1);
    expect((r.eax >>> 25) & 1).toBe(0); // no SSE
  });

  it('FLDCW keeps the defined bits and reads bit 6 as one', () => {
    const a = m.data([0, 0]), b = m.data([0xff, 0xff]);
    const r = ok(m.run([...I.fldcw(a), ...I.fnstcw(a), ...I.fldcw(b), ...I.fnstcw(b)]));
    expect([...m.read(a, 2)]).toEqual([0x40, 0x00]);
    expect([...m.read(b, 2)]).toEqual([0x7f, 0x1f]);
    expect(r.save.cw).toBe(0x1f7f);
  });
});

describe('loads, stores and constants', () => {
  it('FLD m32/m64/m80 convert exactly and FSTP m80 stores the register', () => {
    const r = ok(m.run([
      ...I.fld32(m.data(f32bytes(-1.5))), ...I.fld64(m.data(f64bytes(1e300))),
      ...I.fld80(m.data(x80(0x7ffe, 0xffffffffffffffffn))),
    ]));
    expect(hexSt(r, 0)).toBe('7ffe:ffffffffffffffff');
    expect(st(r, 1)).toBe(1e300);
    expect(st(r, 2)).toBe(-1.5);
    expect(r.save.sw & FLAGS).toBe(0);
    expect(r.save.top).toBe(5);
  });

  it('a denormal m32 raises DE and loads normalised; an SNaN raises IE and loads quiet', () => {
    const r = ok(m.run([...I.fld32(m.data(le32(0x00000001))), ...I.fld32(m.data(le32(0x7f800001)))]));
    expect(hexSt(r, 1)).toBe(`${(16383 - 149).toString(16)}:8000000000000000`);
    expect(hexSt(r, 0)).toBe('7fff:c000010000000000');
    expect(r.save.sw & FLAGS).toBe(DE | IE);
  });

  it('FLD m80 of an SNaN or a denormal raises nothing', () => {
    const r = ok(m.run([...I.fld80(m.data(x80(0x7fff, 0x8000000000000001n))), ...I.fld80(m.data(x80(0, 5n)))]));
    expect(hexSt(r, 1)).toBe('7fff:8000000000000001');
    expect(r.save.sw & FLAGS).toBe(0);
  });

  it('FST m32 and m64 round by RC, with overflow, underflow and precision flags', () => {
    const third = m.data(x80(0x3ffd, 0xaaaaaaaaaaaaaaabn));
    const o1 = m.data(new Array(4).fill(0)), o2 = m.data(new Array(4).fill(0)), o3 = m.data(new Array(8).fill(0));
    const r = ok(m.run([
      ...I.fld80(third), ...I.fst32(o1), ...cw(cwOf(3, 2)), ...I.fst32(o2), ...I.fst64(o3),
    ]));
    const dv = (a: number, n: number) => new DataView(m.read(a, n).buffer);
    expect(dv(o1, 4).getFloat32(0, true)).toBe(Math.fround(1 / 3));
    expect(dv(o2, 4).getUint32(0, true)).toBe(0x3eaaaaab); // rounded up
    expect(dv(o3, 8).getFloat64(0, true)).toBe(0.33333333333333337); // rounded up
    expect(r.save.sw & (FLAGS | C1)).toBe(PE | C1);

    const big = m.data(ext(1e300)), tiny = m.data(ext(1e-50));
    const r2 = ok(m.run([...I.fld80(big), ...I.fstp32(o1), ...I.fld80(tiny), ...I.fstp32(o2)]));
    expect(dv(o1, 4).getFloat32(0, true)).toBe(Infinity);
    expect(dv(o2, 4).getFloat32(0, true)).toBe(0);
    expect(r2.save.sw & FLAGS).toBe(OE | UE | PE);
    expect(r2.save.top).toBe(0);
  });

  it('FST ST(i) and FSTP ST(i) copy (and pop)', () => {
    const r = ok(m.run([...loads(1, 2, 3), 0xdd, 0xd2 /* fst st2 */, 0xdd, 0xd9 /* fstp st1 */]));
    expect([st(r, 0), st(r, 1)]).toEqual([1, 1]);
    expect(r.save.top).toBe(6);
  });

  it('the constants are rounded from 66 bits by RC like a physical x87', () => {
    const want: Record<number, string[]> = {
      0: ['4000:d49a784bcd1b8afe', '3fff:b8aa3b295c17f0bc', '4000:c90fdaa22168c235', '3ffd:9a209a84fbcff799', '3ffe:b17217f7d1cf79ac'],
      1: ['4000:d49a784bcd1b8afe', '3fff:b8aa3b295c17f0bb', '4000:c90fdaa22168c234', '3ffd:9a209a84fbcff798', '3ffe:b17217f7d1cf79ab'],
      2: ['4000:d49a784bcd1b8aff', '3fff:b8aa3b295c17f0bc', '4000:c90fdaa22168c235', '3ffd:9a209a84fbcff799', '3ffe:b17217f7d1cf79ac'],
      3: ['4000:d49a784bcd1b8afe', '3fff:b8aa3b295c17f0bb', '4000:c90fdaa22168c234', '3ffd:9a209a84fbcff798', '3ffe:b17217f7d1cf79ab'],
    };
    for (let rc = 0; rc < 4; rc++) {
      // FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLD1 FLDZ
      const r = ok(m.run([...cw(cwOf(3, rc)), 0xd9, 0xe9, 0xd9, 0xea, 0xd9, 0xeb, 0xd9, 0xec, 0xd9, 0xed, 0xd9, 0xe8, 0xd9, 0xee]));
      expect([4, 3, 2, 1, 0].map((k) => hexSt(r, k + 2))).toEqual(want[rc]);
      expect([hexSt(r, 1), hexSt(r, 0)]).toEqual(['3fff:8000000000000000', '0000:0000000000000000']);
      expect(r.save.tw).toBe(0x0007); // ST(0) = R1 zero (01), R2..R7 valid (00), R0 empty (11)
    }
  });
});

describe('arithmetic forms', () => {
  // a = 10 in ST(0), b = 4 in ST(1) or memory. reg: 0 add, 1 mul, 4 sub, 5 subr, 6 div, 7 divr.
  const ops: Array<[number, number]> = [[0, 14], [1, 40], [4, 6], [5, -6], [6, 2.5], [7, 0.4]];

  it('D8 ST(0), ST(i)', () => {
    for (const [op, want] of ops) {
      const r = ok(m.run([...loads(10, 4), ...I.arithReg(0xd8, op, 1)]));
      expect([st(r, 0), st(r, 1)]).toEqual([want, 4]);
    }
  });

  it('DC ST(i), ST(0): the result goes to ST(i) (E0+i is FSUBR, E8+i FSUB, F0+i FDIVR, F8+i FDIV)', () => {
    for (const [op, want] of ops) {
      const r = ok(m.run([...loads(10, 4), ...I.arithReg(0xdc, op, 1)]));
      expect([st(r, 0), st(r, 1)]).toEqual([10, want]);
    }
  });

  it('DE ...P ST(i), ST(0) pop the stack', () => {
    for (const [op, want] of ops) {
      const r = ok(m.run([...loads(10, 4), ...I.arithReg(0xde, op, 1)]));
      expect(st(r, 0)).toBe(want);
      expect(r.save.top).toBe(7);
      expect(r.save.empty[1]).toBe(true);
    }
  });

  it('memory operands: m32fp (D8), m64fp (DC), m32int (DA), m16int (DE)', () => {
    const srcs: Array<[number, number[]]> = [[0xd8, f32bytes(4)], [0xdc, f64bytes(4)], [0xda, le32(4)], [0xde, le16(4)]];
    for (const [esc, bytes] of srcs) {
      for (const [op, want] of ops) {
        const r = ok(m.run([...loads(10), ...I.arithMem(esc, op, m.data(bytes))]));
        expect(st(r, 0)).toBe(want);
        expect(r.save.top).toBe(7);
      }
    }
    // FIADD with a negative m16int
    const r = ok(m.run([...loads(10), ...I.arithMem(0xde, 0, m.data(le16(-3 & 0xffff)))]));
    expect(st(r, 0)).toBe(7);
  });

  it('precision control rounds the significand to 24, 53 or 64 bits', () => {
    const out: string[] = [];
    for (const pc of [0, 2, 3]) {
      const r = ok(m.run([...cw(cwOf(pc, 0)), ...loads(1, 3), ...I.arithReg(0xd8, 6, 1)]));
      out.push(hexSt(r, 0));
      expect(r.save.sw & FLAGS).toBe(PE);
    }
    expect(out).toEqual(['3ffd:aaaaab0000000000', '3ffd:aaaaaaaaaaaaa800', '3ffd:aaaaaaaaaaaaaaab']);
  });

  it('rounding control and C1 (set when the magnitude was rounded up)', () => {
    const res: Array<[string, number]> = [];
    for (const rc of [0, 1, 2, 3]) {
      const r = ok(m.run([...cw(cwOf(3, rc)), ...loads(-1, 3), ...I.arithReg(0xd8, 6, 1)]));
      res.push([hexSt(r, 0), r.save.sw & C1]);
    }
    expect(res).toEqual([
      ['bffd:aaaaaaaaaaaaaaab', C1], ['bffd:aaaaaaaaaaaaaaab', C1], ['bffd:aaaaaaaaaaaaaaaa', 0], ['bffd:aaaaaaaaaaaaaaaa', 0],
    ]);
  });

  it('FSQRT, FABS, FCHS', () => {
    const r = ok(m.run([...loads(2), 0xd9, 0xfa, ...loads(-3), 0xd9, 0xe1, ...loads(5), 0xd9, 0xe0]));
    expect(hexSt(r, 2)).toBe('3fff:b504f333f9de6484');
    expect([st(r, 1), st(r, 0)]).toEqual([3, -5]);
    expect(r.save.sw & FLAGS).toBe(PE);
  });

  it('FRNDINT rounds by RC', () => {
    const got: number[] = [];
    for (const rc of [0, 1, 2, 3]) {
      for (const v of [2.5, -2.5, 3.5, -0.25]) {
        const r = ok(m.run([...cw(cwOf(3, rc)), ...loads(v), 0xd9, 0xfc]));
        got.push(st(r, 0));
      }
    }
    expect(got).toEqual([2, -2, 4, -0, 2, -3, 3, -1, 3, -2, 4, -0, 2, -2, 3, -0]);
  });

  it('FSCALE, FXTRACT', () => {
    const r = ok(m.run([...loads(3, 4), 0xd9, 0xfd, ...loads(3, -2.7), 0xd9, 0xfd]));
    expect([st(r, 0), st(r, 2)]).toEqual([0.75, 48]);
    const x = ok(m.run([...loads(-48), 0xd9, 0xf4]));
    expect([st(x, 0), st(x, 1)]).toEqual([-1.5, 5]);
    const z = ok(m.run([...loads(0), 0xd9, 0xf4]));
    expect([st(z, 0), st(z, 1)]).toEqual([0, -Infinity]);
    expect(z.save.sw & FLAGS).toBe(ZE);
  });

  it('FPREM and FPREM1: exact remainders and the quotient bits in C0 C3 C1', () => {
    const cc = (r: RunResult) => r.save.sw & (C0 | C1 | C2 | C3);
    let r = ok(m.run([...loads(10, 3), 0xd9, 0xf8]));
    expect(st(r, 0)).toBe(1);
    expect(cc(r)).toBe(C3 | C1); // Q = 3
    r = ok(m.run([...loads(11, 3), 0xd9, 0xf8]));
    expect(st(r, 0)).toBe(2);
    r = ok(m.run([...loads(11, 3), 0xd9, 0xf5]));
    expect(st(r, 0)).toBe(-1);
    expect(cc(r)).toBe(C0); // Q = 4
    r = ok(m.run([...loads(-7.5, 2), 0xd9, 0xf8]));
    expect(st(r, 0)).toBe(-1.5);
    // 2^200 rem 3 takes steps: the first leaves 2^160 with C2 set.
    r = ok(m.run([...I.fld80(m.data(ext(3))), ...I.fld80(m.data(x80(0x3fff + 200, 1n << 63n))), 0xd9, 0xf8]));
    expect(hexSt(r, 0)).toBe(`${(0x3fff + 160).toString(16)}:8000000000000000`);
    expect(cc(r)).toBe(C2);
  });
});

describe('special operands and masked exceptions', () => {
  const flags = (r: RunResult) => r.save.sw & FLAGS;

  it('x/0 gives ∞ with ZE; 0/0, ∞−∞, 0·∞ and √−1 give the indefinite with IE', () => {
    let r = ok(m.run([...loads(-1, 0), ...I.arithReg(0xd8, 6, 1)]));
    expect([st(r, 0), flags(r)]).toEqual([-Infinity, ZE]);
    for (const code of [
      [...loads(0, 0), ...I.arithReg(0xd8, 6, 1)],
      [...loads(Infinity, Infinity), ...I.arithReg(0xd8, 4, 1)],
      [...loads(0, Infinity), ...I.arithReg(0xd8, 1, 1)],
      [...loads(-1), 0xd9, 0xfa],
    ]) {
      r = ok(m.run(code));
      expect(hexSt(r, 0)).toBe('ffff:c000000000000000');
      expect(flags(r)).toBe(IE);
    }
  });

  it('NaN operands: a QNaN passes through silently, an SNaN raises IE and is quietened', () => {
    const q = x80(0x7fff, 0xc000000000001234n), s = x80(0x7fff, 0x8000000000005678n);
    let r = ok(m.run([...I.fld80(m.data(q)), ...loads(1), ...I.arithReg(0xd8, 0, 1)]));
    expect([hexSt(r, 0), flags(r)]).toEqual(['7fff:c000000000001234', 0]);
    r = ok(m.run([...I.fld80(m.data(s)), ...loads(1), ...I.arithReg(0xd8, 0, 1)]));
    expect([hexSt(r, 0), flags(r)]).toEqual(['7fff:c000000000005678', IE]);
  });

  it('denormal operands raise DE; overflow and underflow round with OE/UE and PE', () => {
    let r = ok(m.run([...I.fld80(m.data(x80(0, 1n << 40n))), ...loads(2), ...I.arithReg(0xd8, 1, 1)]));
    expect(hexSt(r, 0)).toBe('0000:0000020000000000');
    expect(flags(r)).toBe(DE);
    r = ok(m.run([...I.fld80(m.data(x80(0x7ffe, 0xc000000000000000n))), ...loads(2), ...I.arithReg(0xd8, 1, 1)]));
    expect([hexSt(r, 0), flags(r), r.save.sw & C1]).toEqual(['7fff:8000000000000000', OE | PE, C1]);
    r = ok(m.run([...cw(cwOf(3, 3)), ...I.fld80(m.data(x80(0x7ffe, 0xc000000000000000n))), ...loads(2), ...I.arithReg(0xd8, 1, 1)]));
    expect(hexSt(r, 0)).toBe('7ffe:ffffffffffffffff'); // chop: the largest finite
    r = ok(m.run([...I.fld80(m.data(x80(1, 0x8000000000000000n))), ...loads(3), ...I.arithReg(0xd8, 7, 1)]));
    expect(hexSt(r, 0)).toBe('0000:2aaaaaaaaaaaaaab');
    expect(flags(r)).toBe(UE | PE);
    // an exact denormal result raises no underflow while it is masked
    r = ok(m.run([...I.fld80(m.data(x80(1, 0x8000000000000000n))), ...loads(2), ...I.arithReg(0xd8, 7, 1)]));
    expect([hexSt(r, 0), flags(r)]).toEqual(['0000:4000000000000000', 0]);
  });

  it('stack overflow: IE, SF and C1; the masked response pushes the indefinite', () => {
    const r = ok(m.run(new Array(9).fill([0xd9, 0xe8]).flat()));
    expect(r.save.sw & (FLAGS | C1)).toBe(IE | SF | C1);
    expect(hexSt(r, 0)).toBe('ffff:c000000000000000');
    expect(st(r, 1)).toBe(1);
    expect(r.save.top).toBe(7);
  });

  it('stack underflow: IE, SF and C1 = 0; the destination gets the indefinite', () => {
    let r = ok(m.run([...loads(1), ...I.arithReg(0xd8, 0, 3)]));
    expect(r.save.sw & (FLAGS | C1)).toBe(IE | SF);
    expect(hexSt(r, 0)).toBe('ffff:c000000000000000');
    const out = m.data(new Array(4).fill(0x11));
    r = ok(m.run([...I.fistp32(out)]));
    expect([...m.read(out, 4)]).toEqual([0, 0, 0, 0x80]);
    expect(r.save.sw & FLAGS).toBe(IE | SF);
    expect(r.save.top).toBe(1); // popped past the empty register
  });
});

describe('compares and classification', () => {
  const cc = (r: RunResult) => r.save.sw & (C0 | C2 | C3);
  it('FCOM, FCOMP, FCOMPP, FUCOM*, FCOM m32/m64, FICOM m16/m32', () => {
    expect(cc(ok(m.run([...loads(1, 2), 0xd8, 0xd1])))).toBe(C0); // 1 < 2
    expect(cc(ok(m.run([...loads(3, 2), 0xd8, 0xd1])))).toBe(0);
    expect(cc(ok(m.run([...loads(-0, 0), 0xd8, 0xd1])))).toBe(C3);
    let r = ok(m.run([...loads(1, 2, 3), 0xd8, 0xd9 /* fcomp st1 */]));
    expect([cc(r), r.save.top]).toEqual([C0, 6]);
    r = ok(m.run([...loads(2, 2, 3), 0xde, 0xd9 /* fcompp */]));
    expect([cc(r), r.save.top]).toEqual([C3, 7]);
    r = ok(m.run([...loads(2, 1), 0xda, 0xe9 /* fucompp */]));
    expect([cc(r), r.save.top]).toEqual([0, 0]);
    expect(cc(ok(m.run([...loads(2), ...I.arithMem(0xd8, 2, m.data(f32bytes(2.5)))])))).toBe(C0);
    expect(cc(ok(m.run([...loads(2), ...I.arithMem(0xdc, 3, m.data(f64bytes(-2.5)))])))).toBe(0);
    expect(cc(ok(m.run([...loads(7), ...I.arithMem(0xde, 2, m.data(le16(7)))])))).toBe(C3);
    expect(cc(ok(m.run([...loads(7), ...I.arithMem(0xda, 3, m.data(le32(-8)))])))).toBe(0);
  });

  it('unordered: FCOM raises IE on a QNaN, FUCOM only on an SNaN', () => {
    const q = m.data(x80(0x7fff, 0xc000000000000000n)), s = m.data(x80(0x7fff, 0x8000000000000001n));
    let r = ok(m.run([...I.fld80(q), ...loads(1), 0xd8, 0xd1]));
    expect([cc(r), r.save.sw & FLAGS]).toEqual([C0 | C2 | C3, IE]);
    r = ok(m.run([...I.fld80(q), ...loads(1), 0xdd, 0xe1]));
    expect([cc(r), r.save.sw & FLAGS]).toEqual([C0 | C2 | C3, 0]);
    r = ok(m.run([...I.fld80(s), ...loads(1), 0xdd, 0xe1]));
    expect(r.save.sw & FLAGS).toBe(IE);
  });

  it('FCOMI, FCOMIP, FUCOMI, FUCOMIP set ZF, PF, CF and clear OF, SF, AF', () => {
    const ZF = 0x40, PF = 0x4, CF = 0x1, OF = 0x800, SFL = 0x80, AF = 0x10;
    const fl = (code: number[]) => {
      const r = ok(m.run([...code, ...I.flagsToEax], { eflags: 2 | OF | SFL | AF }));
      return r;
    };
    let r = fl([...loads(1, 2), 0xdb, 0xf1]);
    expect(r.eax & (ZF | PF | CF | OF | SFL | AF)).toBe(CF);
    r = fl([...loads(2, 2), 0xdf, 0xf1]); // fcomip
    expect(r.eax & (ZF | PF | CF)).toBe(ZF);
    expect(r.save.top).toBe(7);
    r = fl([...loads(3, 2), 0xdb, 0xe9]); // fucomi
    expect(r.eax & (ZF | PF | CF)).toBe(0);
    r = fl([...I.fld80(m.data(x80(0x7fff, 0xc000000000000000n))), ...loads(1), 0xdf, 0xe9]); // fucomip
    expect(r.eax & (ZF | PF | CF)).toBe(ZF | PF | CF);
    expect(r.save.sw & FLAGS).toBe(0);
  });

  it('FTST and FXAM', () => {
    expect(cc(ok(m.run([...loads(-3), 0xd9, 0xe4])))).toBe(C0);
    expect(cc(ok(m.run([...loads(0), 0xd9, 0xe4])))).toBe(C3);
    const classes: Array<[number[], number]> = [
      [x80(0x3fff, 1n << 63n), C2], // normal
      [x80(0, 0n), C3], // zero
      [x80(0x7fff, 1n << 63n), C2 | C0], // infinity
      [x80(0x7fff, 0xc000000000000000n), C0], // NaN
      [x80(0, 1n), C3 | C2], // denormal
      [x80(0x4000, 1n), 0], // unnormal: unsupported
    ];
    for (const [v, want] of classes) {
      const r = ok(m.run([...I.fld80(m.data(v)), 0xd9, 0xe5]));
      expect(r.save.sw & (C0 | C2 | C3)).toBe(want);
    }
    const neg = ok(m.run([...loads(-2), 0xd9, 0xe5]));
    expect(neg.save.sw & (C0 | C1 | C2 | C3)).toBe(C1 | C2);
    const empty = ok(m.run([0xd9, 0xe5]));
    expect(empty.save.sw & (C0 | C2 | C3)).toBe(C3 | C0);
  });
});

describe('register stack', () => {
  it('FXCH, FLD ST(i), FFREE, FFREEP, FINCSTP, FDECSTP, FNOP', () => {
    let r = ok(m.run([...loads(1, 2, 3), 0xd9, 0xca /* fxch st2 */, 0xd9, 0xc1 /* fld st1 */, 0xd9, 0xd0]));
    expect([0, 1, 2, 3].map((k) => st(r, k))).toEqual([2, 3, 2, 1]);
    r = ok(m.run([...loads(1, 2, 3), 0xdd, 0xc1 /* ffree st1 */]));
    expect(r.save.empty.slice(0, 3)).toEqual([false, true, false]);
    expect(r.save.top).toBe(5);
    r = ok(m.run([...loads(1, 2, 3), 0xdf, 0xc1 /* ffreep st1 */]));
    expect(r.save.empty.slice(0, 2)).toEqual([true, false]);
    expect(r.save.top).toBe(6);
    r = ok(m.run([...loads(1, 2), 0xd9, 0xf7 /* fincstp */]));
    expect([r.save.top, st(r, 0), r.save.empty[7]]).toEqual([7, 2, false]);
    r = ok(m.run([...loads(1), 0xd9, 0xf6, 0xd9, 0xf6]));
    expect([r.save.top, r.save.empty[0], st(r, 2)]).toEqual([5, true, 1]);
  });

  it('FXCH with an empty register: IE and SF, the empty one becomes the indefinite', () => {
    const r = ok(m.run([...loads(5), 0xd9, 0xc9]));
    expect(r.save.sw & FLAGS).toBe(IE | SF);
    expect([hexSt(r, 0), st(r, 1)]).toEqual(['ffff:c000000000000000', 5]);
  });

  it('FCMOVcc moves on EFLAGS conditions', () => {
    const CF = 1, ZF = 0x40, PF = 4;
    // [opcode, modrm base, flags that make it move, flags that do not]
    const cases: Array<[number, number, number, number]> = [
      [0xda, 0xc0, CF, 0], [0xda, 0xc8, ZF, 0], [0xda, 0xd0, ZF, 0], [0xda, 0xd8, PF, 0],
      [0xdb, 0xc0, 0, CF], [0xdb, 0xc8, 0, ZF], [0xdb, 0xd0, 0, CF], [0xdb, 0xd8, 0, PF],
    ];
    for (const [op, base, yes, no] of cases) {
      const a = ok(m.run([...loads(1, 9), op, base + 1], { eflags: 2 | yes }));
      const b = ok(m.run([...loads(1, 9), op, base + 1], { eflags: 2 | no }));
      expect([st(a, 0), st(b, 0)]).toEqual([9, 1]);
    }
  });
});

describe('integer and BCD', () => {
  it('FILD m16/m32/m64 and FIST/FISTP round by RC', () => {
    const i64 = [0, 0, 0, 0, 0, 0, 0, 0x80]; // -2^63
    const r = ok(m.run([
      ...I.fild16(m.data(le16(0xfff6))), ...I.fild32(m.data(le32(123456789))), ...I.fild64(m.data(i64)),
    ]));
    expect([st(r, 0), st(r, 1), st(r, 2)]).toEqual([-(2 ** 63), 123456789, -10]);
    const outs: number[] = [];
    for (const rc of [0, 1, 2, 3]) {
      const o = m.data([0, 0, 0, 0]);
      ok(m.run([...cw(cwOf(3, rc)), ...loads(-2.5), ...I.fistp32(o)]));
      outs.push(new DataView(m.read(o, 4).buffer).getInt32(0, true));
    }
    expect(outs).toEqual([-2, -3, -2, -2]);
  });

  it('out-of-range integer stores give IE and the integer indefinite', () => {
    const o16 = m.data([0, 0]), o32 = m.data([0, 0, 0, 0]), o64 = m.data(new Array(8).fill(0));
    const r = ok(m.run([
      ...loads(40000), ...I.fist16(o16), ...I.fistp32(m.data([0, 0, 0, 0])),
      ...loads(2 ** 31), ...I.fistp32(o32), ...loads(Infinity), ...I.fistp64(o64),
    ]));
    expect([...m.read(o16, 2)]).toEqual([0, 0x80]);
    expect([...m.read(o32, 4)]).toEqual([0, 0, 0, 0x80]);
    expect([...m.read(o64, 8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0x80]);
    expect(r.save.sw & FLAGS).toBe(IE);
    expect(r.save.top).toBe(0);
  });

  it('FBLD and FBSTP', () => {
    const bcd = [0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80]; // -123456789012345678
    const out = m.data(new Array(10).fill(0)), out2 = m.data(new Array(10).fill(0));
    const r = ok(m.run([...I.fbld(m.data(bcd)), ...I.fld1, 0xde, 0xe9 /* fsubp: st1 - st0 */, ...I.fbstp(out), ...loads(1e18), ...I.fbstp(out2)]));
    expect([...m.read(out, 10)]).toEqual([0x79, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80]);
    expect([...m.read(out2, 10)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff]); // BCD indefinite
    expect(r.save.sw & FLAGS).toBe(IE);
  });

  it('FISTTP (SSE3) is #UD on this i686', () => {
    for (const op of [0xdb, 0xdd, 0xdf]) {
      const r = m.run([...loads(1), op, 0x0d, ...le32(m.data([0, 0, 0, 0, 0, 0, 0, 0]))]);
      expect(r.vector).toBe(6);
    }
  });
});

describe('unmasked exceptions and #MF', () => {
  const zmUnmasked = cwOf(3, 0, 0x3b);

  it('an unmasked ZE leaves the operands, sets ES and B, and #MF comes at the next waiting instruction', () => {
    const cwAt = m.data(le16(zmUnmasked));
    const code = [...I.fldcw(cwAt), ...loads(1, 0)];
    const fdivAt = CODE + code.length;
    code.push(...I.arithReg(0xd8, 6, 1)); // fdiv st0, st1
    code.push(...I.fnstswAx); // non-waiting: no fault
    const fnopAt = CODE + code.length;
    code.push(0xd9, 0xd0, ...I.hlt); // fnop: #MF here
    const r = m.run(code, { raw: true });
    expect(r.vector).toBe(16);
    expect(r.eax & 0xffff & (ES | B | ZE)).toBe(ES | B | ZE);
    expect(new DataView(m.read(r.esp, 4).buffer).getUint32(0, true)).toBe(fnopAt);
    // The handler's FNSTENV: FIP/FOP point at the FDIV; its operands are untouched.
    const env = new DataView(m.read(MF_ENV, 28).buffer);
    expect(env.getUint32(12, true)).toBe(fdivAt);
    expect(env.getUint16(16, true)).toBe(8);
    expect((env.getUint32(16, true) >>> 16) & 0x7ff).toBe(0x0f1);
    expect(env.getUint16(4, true) & (ES | ZE)).toBe(ES | ZE);
  });

  it('FWAIT raises the pending #MF; FNCLEX clears it', () => {
    const cwAt = m.data(le16(zmUnmasked));
    let r = m.run([...I.fldcw(cwAt), ...loads(1, 0), ...I.arithReg(0xd8, 6, 1), ...I.fwait, ...I.hlt], { raw: true });
    expect(r.vector).toBe(16);
    r = ok(m.run([...I.fldcw(cwAt), ...loads(1, 0), ...I.arithReg(0xd8, 6, 1), ...I.fnclex, ...I.fwait, 0xd9, 0xd0]));
    expect(r.save.sw & (FLAGS | ES | B)).toBe(0);
    expect(st(r, 0)).toBe(1);
  });

  it('FLDCW that unmasks a pending flag makes the next waiting instruction fault', () => {
    const r = m.run([...loads(1, 0), ...I.arithReg(0xd8, 6, 1), ...I.fldcw(m.data(le16(zmUnmasked))), 0xd9, 0xd0, ...I.hlt], { raw: true });
    expect(r.vector).toBe(16);
  });

  it('with CR0.NE = 0 the pending exception would go through FERR#/IRQ13: an internal error', () => {
    const r = m.run([...I.fldcw(m.data(le16(zmUnmasked))), ...loads(1, 0), ...I.arithReg(0xd8, 6, 1), 0xd9, 0xd0, ...I.hlt], { raw: true, cr0: CR0_PE | CR0_ET });
    expect(r.exit).toBe(ExitReason.InternalError);
    expect(r.errReason).toMatch(/IRQ13/);
  });

  it('unmasked stack overflow leaves TOP; unmasked overflow stores the exponent-wrapped result', () => {
    let r = m.run([...I.fldcw(m.data(le16(cwOf(3, 0, 0x3e)))), ...new Array(9).fill([0xd9, 0xe8]).flat(), 0xd9, 0xd0, ...I.hlt], { raw: true });
    expect(r.vector).toBe(16);
    const env = new DataView(m.read(MF_ENV, 28).buffer);
    expect((env.getUint16(4, true) >> 11) & 7).toBe(0); // 8 pushes, the 9th did not move TOP
    r = ok(m.run([...I.fldcw(m.data(le16(cwOf(3, 0, 0x37)))), ...I.fld80(m.data(x80(0x7ffe, 1n << 63n))), ...loads(4), ...I.arithReg(0xd8, 1, 1)]));
    expect(hexSt(r, 0)).toBe(`${(0x7ffe + 2 - 24576).toString(16)}:8000000000000000`);
    expect(r.save.sw & (FLAGS | ES)).toBe(OE | ES);
  });

  it('an unmasked overflow on FST m32 stores nothing and does not pop', () => {
    const out = m.data([0x11, 0x22, 0x33, 0x44]);
    const r = ok(m.run([...I.fldcw(m.data(le16(cwOf(3, 0, 0x37)))), ...loads(1e300), ...I.fstp32(out)]));
    expect([...m.read(out, 4)]).toEqual([0x11, 0x22, 0x33, 0x44]);
    expect(r.save.top).toBe(7);
    expect(r.save.sw & (OE | ES)).toBe(OE | ES);
  });
});

describe('#NM and #UD', () => {
  it('CR0.TS or CR0.EM make an x87 instruction raise #NM; WAIT only with MP and TS', () => {
    expect(m.run([...I.fld1, ...I.hlt], { raw: true, cr0: CR0_PE | CR0_ET | CR0_NE | CR0_TS }).vector).toBe(7);
    expect(m.run([...I.fld1, ...I.hlt], { raw: true, cr0: CR0_PE | CR0_ET | CR0_NE | CR0_EM }).vector).toBe(7);
    expect(m.run([...I.fwait, ...I.hlt], { raw: true, cr0: CR0_PE | CR0_ET | CR0_NE | CR0_TS }).vector).toBe(-1);
    expect(m.run([...I.fwait, ...I.hlt], { raw: true, cr0: CR0_PE | CR0_ET | CR0_NE | CR0_TS | CR0_MP }).vector).toBe(7);
  });

  it('reserved x87 encodings are #UD', () => {
    for (const code of [[0xd9, 0xd1], [0xd9, 0xe2], [0xd9, 0xef], [0xda, 0xe8], [0xdb, 0xe5], [0xdb, 0xf8], [0xdd, 0xf0], [0xde, 0xd8], [0xdf, 0xe1], [0xd9, 0x0d, 0, 0, 0, 0]]) {
      expect(m.run([...code, ...I.hlt], { raw: true }).vector).toBe(6);
    }
  });
});

describe('environment and state images', () => {
  it('FNSTENV (32-bit protected mode): layout, pointers, tags; then all exceptions masked', () => {
    const env = m.data(new Array(28).fill(0));
    const data = m.data(f64bytes(2));
    const code = [...I.fldcw(m.data(le16(0x0262))), ...loads(1), ...I.fldz];
    const at = CODE + code.length;
    code.push(...I.arithMem(0xdc, 1, data)); // fmul qword [data]
    code.push(...I.fnstenv(env), ...I.fnstcw(m.data([0, 0])));
    const r = ok(m.run(code));
    const d = new DataView(m.read(env, 28).buffer);
    expect(d.getUint32(0, true)).toBe(0xffff0262);
    expect(d.getUint32(4, true)).toBe((0xffff0000 | (6 << 11)) >>> 0);
    expect(d.getUint32(8, true)).toBe((0xffff0000 | 0x1fff) >>> 0); // R6 zero (01), R7 valid (00), others empty
    expect(d.getUint32(12, true)).toBe(at);
    expect(d.getUint32(16, true)).toBe(8 | (0x40d << 16)); // FCS, FOP = DC 0D
    expect(d.getUint32(20, true)).toBe(data);
    expect(d.getUint32(24, true)).toBe(0xffff0010);
    expect(r.save.cw).toBe(0x0262 | 0x3f);
  });

  it('FLDENV restores control, status (TOP), tags and pointers; FNSTENV with 66h uses the 14-byte format', () => {
    const env = m.data([
      ...le32(0xffff037b), ...le32(0xffff0000 | (3 << 11) | C3 | ZE), ...le32(0xffff0000 | 0xfeff), ...le32(0x12345678),
      ...le32(0x01230008), ...le32(0x9abcdef0), ...le32(0xffff0010),
    ]);
    const e16 = m.data(new Array(14).fill(0));
    const r = m.run([...I.fldenv(env), 0x66, ...I.fnstenv(e16), ...I.hlt], { raw: true });
    expect(r.vector).toBe(-1);
    const d = new DataView(m.read(e16, 14).buffer);
    expect([0, 2, 4, 6, 8, 10, 12].map((k) => d.getUint16(k, true))).toEqual([
      0x037b, (3 << 11) | C3 | ZE | ES | B, 0xfdff /* R4 non-empty: the tag is recomputed from its contents, +0 → 01 */, 0x5678, 8, 0xdef0, 0x10,
    ]);
  });

  it('FNSAVE stores the environment and ST(0)..ST(7), then initialises; FRSTOR restores', () => {
    const img = m.data(new Array(108).fill(0));
    const r = ok(m.run([...loads(1.5, -2, 3), ...I.fld80(m.data(x80(0x7fff, 0xc000000000000001n))), ...I.fnsave(img), ...I.fld1, ...I.frstor(img)]));
    const saved = m.read(img, 108);
    const dv = new DataView(saved.buffer);
    expect(dv.getUint16(0, true)).toBe(0x037f);
    expect((dv.getUint16(4, true) >> 11) & 7).toBe(4);
    expect([...saved.slice(28, 38)]).toEqual(x80(0x7fff, 0xc000000000000001n));
    expect(r.save.top).toBe(4);
    expect([1, 2, 3].map((k) => st(r, k))).toEqual([1.5, -2, 3]);
    expect(r.save.empty).toEqual([false, false, false, false, true, true, true, true]);
  });

  it('real mode: the 16- and 32-bit FSTENV images hold linear instruction and operand addresses', () => {
    // fninit ; fld1 ; fld dword [0x0600] ; fnstenv [0x0700] ; o32 fnstenv [0x0800] ; hlt
    m.vm.writePhys(0x600, new Uint8Array(f32bytes(2)));
    const code = [0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0x06, 0x00, 0x06, 0xd9, 0x36, 0x00, 0x07, 0x66, 0xd9, 0x36, 0x00, 0x08, 0xf4];
    const r = m.runReal(code);
    expect(r.errReason).toBe('');
    expect(r.exit).toBe(ExitReason.Hlt);
    const fip = CODE + 4; // linear address of the FLD m32
    const d16 = new DataView(m.read(0x700, 14).buffer);
    expect([0, 2, 6, 8, 10, 12].map((k) => d16.getUint16(k, true))).toEqual([
      0x037f, 6 << 11, fip & 0xffff, ((fip >>> 16) << 12) | 0x106, 0x600, 0,
    ]);
    const d32 = new DataView(m.read(0x800, 28).buffer);
    expect(d32.getUint32(12, true) & 0xffff).toBe(fip & 0xffff);
    expect(d32.getUint32(16, true)).toBe(((fip >>> 16) << 12) | 0x106);
    expect(d32.getUint32(20, true) & 0xffff).toBe(0x600);
  });

  it('FXSAVE writes the 512-byte layout; FXRSTOR restores it', () => {
    const area = m.data(new Array(512).fill(0xcc), 16);
    const r = ok(m.run([...loads(7, 8), ...I.fxsave(area), ...I.fninit, ...I.fxrstor(area)]));
    const d = new DataView(m.read(area, 512).buffer);
    expect(d.getUint16(0, true)).toBe(0x037f);
    expect(d.getUint16(2, true)).toBe(6 << 11);
    expect(d.getUint8(4)).toBe(0xc0); // abridged tags: R6, R7 valid
    expect(d.getUint16(6, true)).toBe(0x32d); // FOP of FLD m80 (DB 2D)
    expect(d.getUint16(12, true)).toBe(8);
    expect(d.getUint16(20, true)).toBe(0x10);
    expect(d.getUint32(24, true)).toBe(0x1f80);
    expect(d.getUint32(28, true)).toBe(0xffbf);
    expect([...m.read(area + 32, 10)]).toEqual(ext(7));
    expect([...m.read(area + 48, 10)]).toEqual(ext(8));
    expect([...m.read(area + 160, 128)].every((v) => v === 0)).toBe(true); // XMM0-7: zeros
    expect(m.read(area + 288, 1)[0]).toBe(0xcc); // the rest is not written
    expect(r.save.top).toBe(6);
    expect([st(r, 0), st(r, 1)]).toEqual([7, 8]);
  });

  it('FXSAVE needs 16-byte alignment (#GP); bad MXCSR bits in FXRSTOR are #GP; SSE forms are #UD', () => {
    const area = m.data(new Array(528).fill(0), 16);
    expect(m.run([...I.fxsave(area + 8), ...I.hlt], { raw: true }).vector).toBe(13);
    m.vm.writePhys(area + 24, new Uint8Array(le32(0x10000)));
    expect(m.run([...I.fxrstor(area), ...I.hlt], { raw: true }).vector).toBe(13);
    const ud: number[][] = [
      [0x0f, 0xae, 0x15, ...le32(area)], // ldmxcsr
      [0x0f, 0xae, 0x1d, ...le32(area)], // stmxcsr
      [0x0f, 0xae, 0xe8], [0x0f, 0xae, 0xf0], [0x0f, 0xae, 0xf8], // lfence, mfence, sfence
      [0x0f, 0xae, 0xc0], // fxsave with a register operand
    ];
    for (const code of ud) expect(m.run([...code, ...I.hlt], { raw: true }).vector).toBe(6);
    expect(m.run([...I.fxsave(area), ...I.hlt], { raw: true, cr0: CR0_PE | CR0_ET | CR0_NE | CR0_TS }).vector).toBe(7);
    expect(m.run([...I.fxsave(area), ...I.hlt], { raw: true, cr0: CR0_PE | CR0_ET | CR0_NE | CR0_EM }).vector).toBe(6);
  });
});

describe('transcendentals: special operands', () => {
  it('FSIN/FCOS/FPTAN/FSINCOS leave |x| ≥ 2^63 alone with C2 set', () => {
    const big = m.data(x80(0x3fff + 63, 1n << 63n));
    for (const op of [0xfe, 0xff, 0xf2, 0xfb]) {
      const r = ok(m.run([...I.fld80(big), 0xd9, op]));
      expect(r.save.sw & C2).toBe(C2);
      expect(r.save.top).toBe(7);
      expect(hexSt(r, 0)).toBe(`${(0x3fff + 63).toString(16)}:8000000000000000`);
    }
  });

  it('zeros, infinities and domain errors', () => {
    let r = ok(m.run([...loads(-0), 0xd9, 0xfe, ...loads(0), 0xd9, 0xff]));
    expect([Object.is(st(r, 1), -0), st(r, 0)]).toEqual([true, 1]);
    r = ok(m.run([...loads(Infinity), 0xd9, 0xfe]));
    expect([hexSt(r, 0), r.save.sw & FLAGS]).toEqual(['ffff:c000000000000000', IE]);
    r = ok(m.run([...loads(0.5), 0xd9, 0xf2]));
    expect([st(r, 0), r.save.top]).toEqual([1, 6]);
    r = ok(m.run([...loads(0, 3), 0xd9, 0xf1])); // fyl2x: 3·log2(0)
    expect([st(r, 0), r.save.sw & FLAGS]).toEqual([-Infinity, ZE]);
    r = ok(m.run([...loads(-1, 3), 0xd9, 0xf1]));
    expect(r.save.sw & FLAGS).toBe(IE);
    r = ok(m.run([...loads(8, 3), 0xd9, 0xf1])); // 3·log2(8) = 9 exactly
    expect([st(r, 0), r.save.sw & FLAGS]).toEqual([9, 0]);
    r = ok(m.run([...loads(-0, -1), 0xd9, 0xf3])); // atan2(-1, -0) = -π/2
    expect(st(r, 0)).toBeCloseTo(-Math.PI / 2, 15);
    r = ok(m.run([...loads(1), 0xd9, 0xf0, ...loads(-1), 0xd9, 0xf0]));
    expect([st(r, 1), st(r, 0), r.save.sw & FLAGS]).toEqual([1, -0.5, 0]);
  });
});

describe('state accessors (for a KVM-style getFpu/setFpu)', () => {
  it('getState/setState round-trip registers in stack order, tags, pointers and the status word', () => {
    const a = new X87();
    a.top = 5;
    a.empty = 0b00011111; // R5..R7 in use
    a.set(5, 0x3fff, 0x80000000, 0);
    a.set(6, 0xc000, 0xc0000000, 1);
    a.set(7, 0x7fff, 0xc0000000, 0);
    a.cw = 0x027b;
    a.status = ZE | C3;
    a.fip = 0x1234; a.fcs = 8; a.fop = 0x1e8; a.fdp = 0x5678; a.fds = 0x10;
    const s = a.getState();
    expect(s.fpr[1]).toEqual([1, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0xc0]);
    expect([s.fcw, s.fsw, s.ftwx, s.lastOpcode]).toEqual([0x027b, ZE | C3 | (5 << 11), 0xe0, 0x1e8]);
    const b = new X87();
    b.setState(s);
    expect(b.getState()).toEqual({ ...s, fsw: s.fsw | ES | B }); // ZE is unmasked in 0x027B: pending
    expect(b.st(2)).toEqual([0x7fff, 0xc0000000, 0]);
  });
});
