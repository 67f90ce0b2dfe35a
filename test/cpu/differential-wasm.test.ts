// The differential fixtures again, with every block compiled to WebAssembly from its first
// execution (VMRUN_JIT_BACKEND=wasm): the WebAssembly compiler is held to the same independent
// model as the interpreter and the JavaScript compiler.
process.env.VMRUN_JIT_THRESHOLD = '1';
process.env.VMRUN_JIT_BACKEND = 'wasm';
await import('./differential.test.js');
