// The checksum images/guests/cpuloop.asm must print, computed independently of any x86 model.
const WORDS = 0x200000, PASSES = 16;
const buf = new Int32Array(WORDS);
let x = 1;
for (let k = 0; k < WORDS; k++) { x = (Math.imul(x, 1103515245) + 12345) | 0; buf[k] = x; }
let s = 0;
for (let p = 0; p < PASSES; p++) {
  for (let k = 0; k < WORDS; k++) { const v = buf[k]; s = (s + v) | 0; s = (s << 5) | (s >>> 27); s ^= v; }
}
console.log((s >>> 0).toString(16).padStart(8, '0'));
