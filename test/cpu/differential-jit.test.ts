// The differential fixtures again, with the block compiler on from the first execution of every
// block: each case then runs as compiled JavaScript (inline code or handler calls), so the JIT is
// held to the same independent model as the interpreter.
process.env.VMRUN_JIT_THRESHOLD = '1';
await import('./differential.test.js');
