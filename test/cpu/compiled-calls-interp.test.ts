// The case of compiled-calls.test.ts in the interpreter (the compiler off).
process.env.VMRUN_JIT = '0';
await import('./compiled-calls.test.js');
