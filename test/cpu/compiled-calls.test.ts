// A hot loop that calls a function in the same page: compiled with every block at its first
// execution (threshold 1), the loop, the callee and the CALL's return site form one WebAssembly
// unit, and the callee's RET continues at the return site inside it. Checked against the
// interpreter's result (compiled-calls-interp.test.ts runs the same with the compiler off).
process.env.VMRUN_JIT_THRESHOLD ??= '1';
const { describe, expect, it } = await import('vitest');
const { Flat32 } = await import('./harness.js');

const machine = new Flat32();

describe('CALL and RET inside a compiled unit', () => {
  it('a loop calling a function 1000 times', () => {
    const code = [
      0xb9, 0xe8, 0x03, 0x00, 0x00, //  0: mov ecx, 1000
      0xe8, 0x04, 0x00, 0x00, 0x00, //  5: call f (14)
      0x49, //                          10: dec ecx
      0x75, 0xf8, //                    11: jnz 5
      0xf4, //                          13: hlt
      0x83, 0xc0, 0x03, //              14: f: add eax, 3
      0x01, 0xc3, //                    17: add ebx, eax
      0xc3, //                          19: ret
    ];
    const r = machine.run(code, { eax: 0, ebx: 0 }, 0x2, []);
    expect(r.vector).toBe(-1);
    expect(r.regs.eax >>> 0).toBe(3000);
    expect(r.regs.ebx >>> 0).toBe((3 * 1000 * 1001) / 2);
    expect(r.regs.ecx >>> 0).toBe(0);
  });
});
