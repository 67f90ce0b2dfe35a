// The block-invalidation and exactness tests of jit-invalidation.test.ts again, with the block
// compiler's default of one block per compiled function (no multi-block regions).
process.env.VMRUN_JIT_REGION = '0';
await import('./jit-invalidation.test.js');
