import { describe, expect, it } from 'vitest';
import { FpuMachine, I, DATA, ext, extHex } from './fpu-harness.js';

describe('smoke', () => {
  it('runs fld1 fadd', () => {
    const m = new FpuMachine();
    const a = m.data(ext(2.5));
    const r = m.run([...I.fninit, ...I.fld1, ...I.fld80(a), ...I.arithReg(0xd8, 0, 1)]);
    console.log(r.exit, r.errReason, r.vector, r.save.sw.toString(16), extHex(r.save.st[0]), extHex(r.save.st[1]));
    expect(r.exit).toBe(3);
  });
});
