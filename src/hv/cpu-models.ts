// The CPU models a vCPU can be given (--cpu): names, descriptions and their CPUID tables. The
// tables come from the core, which honours them; the monitor sees only this module.

import { CPU_MODELS, DEFAULT_CPU } from '../cpu/cpuid.js';
import type { CpuidEntry } from './types.js';

export { DEFAULT_CPU };

export function cpuModelNames(): string[] {
  return Object.keys(CPU_MODELS);
}

export function cpuModelDescription(name: string): string {
  return CPU_MODELS[name]?.description ?? '';
}

/** The CPUID table of a model; throws RangeError for an unknown name. */
export function cpuidForModel(name: string): CpuidEntry[] {
  const m = CPU_MODELS[name];
  if (m === undefined) throw new RangeError(`unknown CPU model ${name}`);
  return m.cpuid();
}
