// Reproducer (found by the in-process fuzzer: two vCPUs with different histories disagreed on a
// TSC the guest had written): the TSC is kept as instructions retired + an offset held in a
// JavaScript number, so a value written with WRMSR above 2^53 lost its low bits; the core now
// keeps what WRMSR wrote as a BigInt (Cpu.tscBase).
import { describe, expect, it } from 'vitest';
import { Vm } from '../../../src/hv/vm.js';
import { realModeVm } from '../../support/x86-guest.js';

const R_HLT = 3;

/** WRMSR 0x10 with EDX:EAX = hi:lo, then RDTSC; returns what RDTSC read. */
function writeThenRead(hi: number, lo: number): bigint {
  const code = [
    0x66, 0xb9, 0x10, 0x00, 0x00, 0x00, // mov ecx, 0x10
    0x66, 0xb8, ...[0, 8, 16, 24].map((s) => (lo >>> s) & 0xff), // mov eax, lo
    0x66, 0xba, ...[0, 8, 16, 24].map((s) => (hi >>> s) & 0xff), // mov edx, hi
    0x0f, 0x30, // wrmsr
    0x0f, 0x31, // rdtsc
    0xf4,
  ];
  const { vcpu } = realModeVm(Vm, code);
  expect(vcpu.run(100)).toBe(R_HLT);
  const r = vcpu.getRegs();
  return (BigInt(r.edx) << 32n) | BigInt(r.eax);
}

describe('the TSC after WRMSR', () => {
  it('counts on from a small value written (one instruction, the WRMSR, retired since)', () => {
    expect(writeThenRead(0, 0x1000)).toBe(0x1001n);
  });

  it('counts on from a value above 2^53, exactly', () => {
    expect(writeThenRead(0xfec00003, 0x80000005).toString(16)).toBe('fec0000380000006');
  });
});
