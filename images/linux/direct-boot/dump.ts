// Runs vmrun's own loader on a kernel and writes what it would put into guest memory, one file per
// chunk, for run.sh to hand to QEMU. Prints the entry point, ESI and "FILE ADDR" lines.
//   vite-node dump.ts -- KERNEL INITRD MEMORY_MIB CMDLINE OUTDIR
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadKernel } from '../../../src/loaders/index.js';

const args = process.argv.slice(2).filter((a) => a !== '--');
const [kernelPath, initrdPath, memMiB, cmdline, outDir] = args;
if (outDir === undefined) {
  console.error('usage: dump.ts KERNEL INITRD MEMORY_MIB CMDLINE OUTDIR');
  process.exit(2);
}
const r = loadKernel({
  kernel: new Uint8Array(readFileSync(kernelPath)),
  kernelPath,
  initrd: new Uint8Array(readFileSync(initrdPath)),
  initrdPath,
  cmdline,
  memorySize: Number(memMiB) * 0x100000,
});
if (r.entry.kind !== 'flat32') throw new Error(`unexpected entry ${r.entry.kind}`);
mkdirSync(outDir, { recursive: true });
console.log(`# ${r.description}`);
console.log(`ENTRY=0x${r.entry.eip.toString(16)}`);
console.log(`ESI=0x${(r.regs.esi ?? 0).toString(16)}`);
r.chunks.forEach((c, i) => {
  const file = path.join(outDir, `chunk${i}.bin`);
  writeFileSync(file, c.data);
  console.log(`${file} ${c.addr.toString(16)}`);
});
