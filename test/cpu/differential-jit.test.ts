// The differential fixtures again, with the JavaScript block compiler (jit.ts) on from the first
// execution of every block: each case then runs as compiled JavaScript (inline code or handler calls), so the JIT is
// held to the same independent model as the interpreter.
process.env.VMRUN_JIT_THRESHOLD = '1';
process.env.VMRUN_JIT_BACKEND = 'js';
await import('./differential.test.js');
