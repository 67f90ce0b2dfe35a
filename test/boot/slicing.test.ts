// Where run() is cut must not change what the guest does: the bundled Linux boot, in-process,
// with run() slices of a million instructions and of 997 (the run loop fits its slices to the
// host's speed, so their length differs from run to run), prints the same bytes after the same
// instruction count. (It did not when an exception delivery reached the TSC only at the end of
// the run() it happened in.)
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BufferedSink } from '../../src/vmm/console.js';
import { Machine } from '../../src/vmm/machine.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const kernel = path.join(root, 'images/linux/bzImage');
const initrd = path.join(root, 'images/linux/initramfs.cpio.gz');

async function boot(sliceInstructions: number) {
  const chunks: Uint8Array[] = [];
  const sink = new BufferedSink((c) => chunks.push(c));
  const m = new Machine({
    memorySize: 128 << 20,
    kernel: readFileSync(kernel),
    kernelPath: kernel,
    initrd: readFileSync(initrd),
    initrdPath: initrd,
    clock: 'virtual',
    rtcStartMs: Date.UTC(2000, 0, 1),
    exitPort: 'plain',
    noReboot: true,
    timeoutMs: 120_000,
    console: sink,
    hooks: { flush: () => sink.flush(), checkpoint: () => {} },
    sliceInstructions,
  });
  const r = await m.run();
  sink.flush();
  return { status: r.status, instructions: r.instructions, guestNs: r.guestNs, out: Buffer.concat(chunks).toString('latin1') };
}

describe.skipIf(!existsSync(kernel))('run() slicing', () => {
  it('the Linux boot is the same with slices of 1,000,000 and of 997 instructions', async () => {
    const a = await boot(1_000_000);
    const b = await boot(997);
    expect(a.status).toBe(0);
    expect(a.out).toMatch(/vmrun-init: hello from userspace/);
    expect(b.out).toBe(a.out);
    expect(b.instructions).toBe(a.instructions);
    expect(b.guestNs).toBe(a.guestNs);
  });
});
