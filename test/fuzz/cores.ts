// Several instances of the core in one vitest worker (interpreter, compiled, regions): the block
// compiler's settings are read when src/cpu/cpu.ts and wasm-jit.ts are first evaluated, so each
// instance is imported afresh (after vi.resetModules) under its own environment. Only for tests;
// the long fuzz run (tools/fuzz.mjs) loads copies of the compiled core from separate folders.
import { vi } from 'vitest';
import { CORE_ENV, type Core } from './inproc.js';

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
