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
export const CPUID_MCE = 1 << 7, CPUID_MCA = 1 << 14;
export const CPUID_NX = 1 << 20; // leaf 0x80000001 EDX
/** Leaf 1 ECX bit 31: running under a hypervisor (as KVM and QEMU report it). */
export const CPUID_HYPERVISOR = 1 << 31;

const P6_FEATURES = CPUID_FPU | CPUID_DE | CPUID_PSE | CPUID_TSC | CPUID_MSR | CPUID_PAE | CPUID_MCE | CPUID_CX8 |
  CPUID_PGE | CPUID_MTRR | CPUID_MCA | CPUID_CMOV;

function vendorLeaf(maxLeaf: number): CpuidEntry {
  return entry(0, maxLeaf, ascii4('Genu'), ascii4('ntel'), ascii4('ineI'));
}

/**
 * CPU models for `--cpu`. Each reports its family/model/stepping and the subset of its features
 * the core implements (the core honours the table: an instruction of an unreported feature is #UD,
 * a CR4 bit of an unreported feature #GP). None reports MMX/SSE, a local APIC or VME. Each
 * sets the hypervisor bit (leaf 1 ECX bit 31), as a guest of KVM or QEMU sees it.
 */
export const CPU_MODELS: Record<string, { description: string; cpuid: () => CpuidEntry[] }> = {
  pentium2: {
    description: 'Pentium II class (family 6 model 3): x87, FXSR, SEP, CMOV, PAE, PSE, PGE, PAT, MTRR, MCE/MCA, NX (the default)',
    cpuid: () => [
      vendorLeaf(1),
      entry(1, (6 << 8) | (3 << 4) | 3, 0, CPUID_HYPERVISOR, P6_FEATURES | CPUID_FXSR | CPUID_SEP | CPUID_PAT),
      entry(0x80000000, 0x80000001, 0, 0, 0),
      entry(0x80000001, 0, 0, 0, CPUID_NX),
    ],
  },
  pentiumpro: {
    description: 'Pentium Pro (family 6 model 1): x87, CMOV, PAE, PSE, PGE, MTRR, MCE/MCA; no SYSENTER, FXSR, PAT or NX',
    cpuid: () => [vendorLeaf(1), entry(1, (6 << 8) | (1 << 4) | 9, 0, CPUID_HYPERVISOR, P6_FEATURES)],
  },
  i486: {
    description: 'i486DX4 (family 4 model 8): x87 only; no TSC, MSRs, CMPXCHG8B, CMOV, PSE, PAE or PGE',
    cpuid: () => [vendorLeaf(1), entry(1, (4 << 8) | (8 << 4), 0, CPUID_HYPERVISOR, CPUID_FPU)],
  },
};

export const DEFAULT_CPU = 'pentium2';

/** The default model's table. */
export function defaultCpuid(): CpuidEntry[] {
  return CPU_MODELS[DEFAULT_CPU].cpuid();
}

/** Leaf 1 EDX of a table (0 when absent). */
export function leaf1Features(table: CpuidEntry[]): number {
  const e = table.find((x) => x.function === 1);
  return e ? e.edx | 0 : 0;
}

/** The CR4 bits a table allows: TSD with TSC, DE, PSE, PAE, MCE, PGE, PCE on family 6, OSFXSR with FXSR. */
export function cr4Allowed(table: CpuidEntry[]): number {
  const f = leaf1Features(table);
  const e = table.find((x) => x.function === 1);
  const family = e ? (e.eax >>> 8) & 0xf : 0;
  let m = 0;
  if ((f & CPUID_TSC) !== 0) m |= 0x4;
  if ((f & CPUID_DE) !== 0) m |= 0x8;
  if ((f & CPUID_PSE) !== 0) m |= 0x10;
  if ((f & CPUID_PAE) !== 0) m |= 0x20;
  if ((f & CPUID_MCE) !== 0) m |= 0x40;
  if ((f & CPUID_PGE) !== 0) m |= 0x80;
  if (family >= 6) m |= 0x100;
  if ((f & CPUID_FXSR) !== 0) m |= 0x200;
  return m;
}
