// CPUID tables. Only features the core implements are reported.

import type { CpuidEntry } from '../hv/types.js';

function entry(fn: number, eax: number, ebx: number, ecx: number, edx: number): CpuidEntry {
  return { function: fn >>> 0, index: 0, significantIndex: false, eax: eax >>> 0, ebx: ebx >>> 0, ecx: ecx >>> 0, edx: edx >>> 0 };
}

function ascii4(s: string): number {
  return s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24);
}

// Leaf 1 EDX feature bits.
export const CPUID_FPU = 1 << 0, CPUID_DE = 1 << 2, CPUID_PSE = 1 << 3, CPUID_TSC = 1 << 4, CPUID_MSR = 1 << 5;
export const CPUID_PAE = 1 << 6, CPUID_CX8 = 1 << 8, CPUID_SEP = 1 << 11, CPUID_PGE = 1 << 13;
export const CPUID_MTRR = 1 << 12, CPUID_CMOV = 1 << 15, CPUID_PAT = 1 << 16, CPUID_FXSR = 1 << 24;
export const CPUID_NX = 1 << 20; // leaf 0x80000001 EDX

/**
 * A Pentium II–class (family 6) "GenuineIntel" CPU with the features of the core: x87 FPU and
 * FXSAVE/FXRSTOR, MTRRs and PAT as plain storage (caching has no effect in an emulator), but no
 * SSE, no local APIC, no VME.
 */
export function defaultCpuid(): CpuidEntry[] {
  const features = CPUID_FPU | CPUID_FXSR | CPUID_DE | CPUID_PSE | CPUID_TSC | CPUID_MSR | CPUID_PAE | CPUID_CX8 | CPUID_SEP |
    CPUID_PGE | CPUID_MTRR | CPUID_CMOV | CPUID_PAT;
  return [
    entry(0, 1, ascii4('Genu'), ascii4('ntel'), ascii4('ineI')),
    // family 6, model 1, stepping 9 (Pentium Pro); SEP is honoured from model 3 upwards by
    // software, so report model 3 as the Pentium II that first had it.
    entry(1, (6 << 8) | (3 << 4) | 3, 0, 0, features),
    entry(0x80000000, 0x80000001, 0, 0, 0),
    entry(0x80000001, 0, 0, 0, CPUID_NX),
  ];
}
