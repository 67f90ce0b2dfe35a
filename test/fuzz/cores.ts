// Two instances of the core in one vitest worker: the block compiler's settings are read when
// src/cpu/cpu.ts and jit.ts are first evaluated, so each instance is imported afresh (after
// vi.resetModules) under its own environment. Only for tests; the long fuzz run (tools/fuzz.mjs)
// loads two copies of the compiled core from two directories instead.
import { vi } from 'vitest';
import type { Core } from './inproc.js';

/** The core's compiler settings for each kind of instance. */
export const CORE_ENV: Record<string, Record<string, string | undefined>> = {
  // The block compiler off: every instruction through the interpreter's handlers.
  interpreter: { VMRUN_JIT: '0', VMRUN_JIT_THRESHOLD: undefined, VMRUN_JIT_REGION: undefined },
  // Every block compiled at its first execution, one block per compiled function (the default).
  compiled: { VMRUN_JIT: undefined, VMRUN_JIT_THRESHOLD: '1', VMRUN_JIT_REGION: undefined },
  // The same with multi-block regions of up to 64 instructions.
  regions: { VMRUN_JIT: undefined, VMRUN_JIT_THRESHOLD: '1', VMRUN_JIT_REGION: '64' },
};

export async function loadCore(kind: keyof typeof CORE_ENV & string): Promise<Core> {
  const env = CORE_ENV[kind];
  vi.resetModules();
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    const { Vm } = await import('../../src/hv/vm.js');
    const { cpuidForModel } = await import('../../src/hv/cpu-models.js');
    return { name: kind, Vm, cpuidForModel };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
