// The checksum images/linux/paging-walk.c must print, computed independently of any x86 model.
const WORDS = 4 << 20, PASSES = 8, STEPS = 1 << 20, SEED = 0x2545f491;
const buf = new Uint32Array(WORDS);
const xorshift32 = (x) => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
const rotl5 = (x) => ((x << 5) | (x >>> 27)) >>> 0;
let x = SEED;
for (let i = 0; i < WORDS; i++) { x = xorshift32(x); buf[i] = x; }
let sum = 0;
for (let p = 0; p < PASSES; p++) {
  for (let k = 0; k < STEPS; k++) {
    x = xorshift32(x);
    const i = x & (WORDS - 1);
    const v = buf[i];
    sum = (rotl5(sum) ^ v) >>> 0;
    buf[i] = (v + sum) >>> 0;
  }
}
for (let i = 0; i < WORDS; i++) sum = (rotl5(sum) ^ buf[i]) >>> 0;
console.log(sum.toString(16).padStart(8, '0'));
