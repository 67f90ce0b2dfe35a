// The model-specific registers: which exist for a CPU model (decided from its CPUID table, so
// CPUID and the MSRs always agree), their power-on values, and which bits a write may set. An MSR
// the model does not have raises #GP on RDMSR and WRMSR, as on the real processor.
//
// Registers with behaviour (the TSC, APIC_BASE, the SYSENTER MSRs, EFER) are implemented by the
// core (Cpu.readMsr / writeMsr); the rest are storage whose contents have no effect here: the
// MTRRs and PAT (caching), the machine-check registers (no machine-check errors ever occur, so
// the status banks stay zero), the P6 performance counters (which count nothing: see PERFCTR),
// microcode signature and platform ID.

import type { CpuidEntry } from '../hv/types.js';
import {
  CPUID_MCA, CPUID_MCE, CPUID_MSR, CPUID_MTRR, CPUID_NX, CPUID_PAT, CPUID_SEP, CPUID_TSC,
} from './cpuid.js';

/** What of a CPUID table decides which MSRs exist. */
export interface MsrModel {
  /** Leaf 1 EDX. */
  features: number;
  /** Leaf 0x80000001 EDX. */
  extFeatures: number;
  family: number;
}

export function msrModel(table: CpuidEntry[]): MsrModel {
  const l1 = table.find((e) => e.function === 1);
  const ext = table.find((e) => e.function === 0x80000001);
  return { features: l1 ? l1.edx | 0 : 0, extFeatures: ext ? ext.edx | 0 : 0, family: l1 ? (l1.eax >>> 8) & 0xf : 0 };
}

export const MSR_TSC = 0x10;
export const MSR_APIC_BASE = 0x1b;
export const MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176;
export const MSR_MCG_CAP = 0x179;
export const MSR_PERFEVTSEL0 = 0x186, MSR_PERFEVTSEL1 = 0x187;
export const MSR_EFER = 0xc0000080;
/** Machine-check banks reported in MCG_CAP (as on the P6 family). */
export const MC_BANKS = 5;
/** MCG_CAP: MCG_CTL_P (MCG_CTL present) and the bank count. */
export const MCG_CAP_VALUE = 0x100n | BigInt(MC_BANKS);

interface MsrDef {
  /** First index (and count, for a range of like registers). */
  index: number;
  count?: number;
  name: string;
  /** Whether the model has it. */
  present(m: MsrModel): boolean;
  /** Power-on value of storage registers (registers with behaviour: unused). */
  reset?: bigint;
  /** WRMSR raises #GP (read-only registers). */
  readOnly?: boolean;
  /** Bits a write may set; a write with others raises #GP (default: any). */
  writable?: bigint;
  /** WRMSR is accepted and has no effect (the register keeps its value). */
  ignoresWrites?: boolean;
}

const P6 = (m: MsrModel): boolean => m.family === 6;
const has = (bit: number) => (m: MsrModel): boolean => (m.features & bit) !== 0;
const mca = (m: MsrModel): boolean => (m.features & CPUID_MCA) !== 0 && (m.features & CPUID_MCE) !== 0;

/** Every MSR the core knows. */
const MSRS: readonly MsrDef[] = [
  { index: MSR_TSC, name: 'IA32_TIME_STAMP_COUNTER', present: has(CPUID_TSC) },
  { index: 0x17, name: 'IA32_PLATFORM_ID', present: P6, reset: 0n, readOnly: true },
  { index: MSR_APIC_BASE, name: 'IA32_APIC_BASE', present: P6 },
  { index: 0x79, name: 'IA32_BIOS_UPDT_TRIG', present: P6, reset: 0n },
  { index: 0x8b, name: 'IA32_BIOS_SIGN_ID', present: P6, reset: 0n },
  // The P6 counters of a PMU that is not virtualised, as QEMU and KVM present one: they read 0
  // and drop writes, so Linux's check (write a counter, read it back) finds no PMU and uses
  // software events; selecting an event with EN set stays an InternalError (see wrmsr).
  { index: 0xc1, count: 2, name: 'PERFCTR0/1', present: P6, reset: 0n, ignoresWrites: true },
  { index: 0xfe, name: 'IA32_MTRRCAP', present: has(CPUID_MTRR), reset: 0x508n, readOnly: true }, // WC, fixed ranges, 8 variable
  { index: MSR_SYSENTER_CS, count: 3, name: 'IA32_SYSENTER_CS/ESP/EIP', present: has(CPUID_SEP) },
  { index: MSR_MCG_CAP, name: 'IA32_MCG_CAP', present: mca, reset: MCG_CAP_VALUE, readOnly: true },
  { index: 0x17a, name: 'IA32_MCG_STATUS', present: mca, reset: 0n },
  { index: 0x17b, name: 'IA32_MCG_CTL', present: mca, reset: 0n },
  { index: MSR_PERFEVTSEL0, count: 2, name: 'PERFEVTSEL0/1', present: P6, reset: 0n },
  { index: 0x200, count: 16, name: 'IA32_MTRR_PHYSBASE/PHYSMASK0-7', present: has(CPUID_MTRR), reset: 0n },
  { index: 0x250, name: 'IA32_MTRR_FIX64K_00000', present: has(CPUID_MTRR), reset: 0n },
  { index: 0x258, count: 2, name: 'IA32_MTRR_FIX16K', present: has(CPUID_MTRR), reset: 0n },
  { index: 0x268, count: 8, name: 'IA32_MTRR_FIX4K', present: has(CPUID_MTRR), reset: 0n },
  { index: 0x277, name: 'IA32_PAT', present: has(CPUID_PAT), reset: 0x0007040600070406n },
  { index: 0x2ff, name: 'IA32_MTRR_DEF_TYPE', present: has(CPUID_MTRR), reset: 0n, writable: 0xcffn },
  // Bank i: MCi_CTL, MCi_STATUS (software may only clear it), MCi_ADDR, MCi_MISC.
  ...Array.from({ length: MC_BANKS }, (_, i): MsrDef[] => [
    { index: 0x400 + 4 * i, name: `IA32_MC${i}_CTL`, present: mca, reset: 0n },
    { index: 0x401 + 4 * i, name: `IA32_MC${i}_STATUS`, present: mca, reset: 0n, writable: 0n },
    { index: 0x402 + 4 * i, count: 2, name: `IA32_MC${i}_ADDR/MISC`, present: mca, reset: 0n },
  ]).flat(),
  { index: MSR_EFER, name: 'IA32_EFER', present: (m) => (m.extFeatures & CPUID_NX) !== 0 },
];

/** The definition of MSR `index`, when the model has it. */
export function msrDef(index: number, m: MsrModel): MsrDef | undefined {
  const u = index >>> 0;
  if ((m.features & CPUID_MSR) === 0) return undefined;
  for (const d of MSRS) {
    if (u >= d.index && u < d.index + (d.count ?? 1)) return d.present(m) ? d : undefined;
  }
  return undefined;
}

/** Power-on values of the storage MSRs a model has. */
export function resetStorage(m: MsrModel, into: Map<number, bigint>): void {
  into.clear();
  for (const d of MSRS) {
    if (d.reset === undefined || !d.present(m) || (m.features & CPUID_MSR) === 0) continue;
    for (let k = 0; k < (d.count ?? 1); k++) into.set(d.index + k, d.reset);
  }
}

/** Whether a WRMSR of `value` to a storage MSR is allowed (else #GP). */
export function writeAllowed(d: MsrDef, value: bigint): boolean {
  if (d.readOnly) return false;
  return d.writable === undefined || (value & ~d.writable) === 0n;
}

/** Whether a write to a storage MSR changes it (false: accepted and dropped). */
export function writeTakesEffect(d: MsrDef): boolean {
  return d.ignoresWrites !== true;
}
