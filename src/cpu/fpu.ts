// The x87 floating-point unit (to be completed): state and instruction execution for D8–DF,
// FWAIT, and FXSAVE/FXRSTOR (0F AE).

import type { Cpu } from './cpu.js';
import type { Insn } from './decoder.js';

export class X87 {
  /** Control word (FINIT value 0x037F). */
  cw = 0x037f;
  /** Status word. */
  sw = 0;
  /** Tag word (two bits per physical register, 11 = empty). */
  tw = 0xffff;
  reset(): void {
    this.cw = 0x037f;
    this.sw = 0;
    this.tw = 0xffff;
  }
}

/** Execute an x87 escape instruction (D8–DF). CR0.EM/TS have been checked by the caller. */
export function x87Execute(c: Cpu, i: Insn): void {
  c.internalError(`x87 instruction ${i.op.toString(16).toUpperCase()} ${i.modrm >= 0 ? (i.modrm).toString(16).toUpperCase().padStart(2, '0') : ''} is not implemented`);
}

/** 0F AE group: FXSAVE /0, FXRSTOR /1, LDMXCSR /2, STMXCSR /3, fences (mod=3 /5 /6 /7). */
export function x87Group0FAE(c: Cpu, i: Insn): void {
  c.internalError(`0F AE /${i.reg} is not implemented`);
}
