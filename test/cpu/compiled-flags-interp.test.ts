// The cases of compiled-flags.test.ts in the interpreter (the compilers off).
process.env.VMRUN_JIT = '0';
await import('./compiled-flags.test.js');
