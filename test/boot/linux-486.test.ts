// The benchmark's 486 guest (images/linux/bzImage-486, built by images/linux/build-486.sh:
// 486SX, math emulation, XZ) through the CLI: booted as it is and on a 486 (--cpu i486: no TSC,
// so the kernel calibrates its delay loop against the PIT and keeps the PIT as its clock), with
// no387 (the kernel's x87 emulator), and running the paging workload (initramfs-paging.cpio.gz,
// /init = paging-walk.c) to its checked checksum. Each boot is about 240-480 M guest instructions, 2-3 s.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const kernel = path.join(root, 'images/linux/bzImage-486');
const initrd = path.join(root, 'images/linux/initramfs.cpio.gz');
const paging = path.join(root, 'images/linux/initramfs-paging.cpio.gz');

function boot(initramfs: string, extra: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/vmrun.js'), '--kernel', kernel, '--initrd', initramfs,
    '--json', '--timeout', '60', ...extra], { encoding: 'utf8', timeout: 90_000, input: '', env: { ...process.env, NO_COLOR: '1' } });
  const json = r.stderr.split('\n').filter((l) => l.startsWith('{')).pop();
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, stats: json ? JSON.parse(json) : null };
}

describe.skipIf(!existsSync(kernel))('Linux 486 kernel (bzImage-486)', () => {
  it('boots as it is to the userspace marker (x87 present, so no math emulation; TSC as the clock)', () => {
    const r = boot(initrd, []);
    if (r.status !== 0) console.error(r.stderr.slice(-2000));
    expect(r.stdout).toMatch(/Linux version 6\.1\.\d+/);
    expect(r.stdout).toMatch(/clocksource: Switched to clocksource tsc/);
    expect(r.stdout).toMatch(/vmrun-init: fp ok: sqrt\(2\)\*1e6 = 1414214, 1e6\/7 = 142857/);
    expect(r.stdout).toMatch(/reboot: System halted/);
    expect(r.status).toBe(0);
  });

  it('with --cpu i486 calibrates the delay loop against the PIT and runs on the PIT clock', () => {
    const r = boot(initrd, ['--cpu', 'i486', '--append', 'console=ttyS0 -- restart']);
    if (r.status !== 0) console.error(r.stderr.slice(-2000));
    expect(r.stdout).toMatch(/CPU: Intel 486/);
    expect(r.stdout).toMatch(/Calibrating delay loop\.\.\. \d+\.\d+ BogoMIPS/);
    expect(r.stdout).not.toMatch(/tsc:/);
    expect(r.stdout).toMatch(/clocksource: Switched to clocksource pit/);
    expect(r.stdout).toMatch(/vmrun-init: fp ok/);
    expect(r.status).toBe(0);
    expect(r.stats.stop).toBe('reset');
  });

  it("with no387 runs the x87 through the kernel's math emulation, and /init's x87 check passes", () => {
    const r = boot(initrd, ['--cpu', 'i486', '--append', 'console=ttyS0 no387 -- restart']);
    if (r.status !== 0) console.error(r.stderr.slice(-2000));
    expect(r.stdout).toMatch(/x86\/fpu: No FPU detected/);
    expect(r.stdout).toMatch(/vmrun-init: fp ok: sqrt\(2\)\*1e6 = 1414214, 1e6\/7 = 142857/);
    expect(r.status).toBe(0);
  });

  it.skipIf(!existsSync(paging))("runs paging-walk to its checksum, and skips it when told to (the benchmark's baseline)", () => {
    const first = boot(paging, []);
    if (first.status !== 0) console.error(first.stderr.slice(-2000));
    expect(first.stdout).toMatch(/paging-walk: ok 9d62aa47 in \d+ us/);
    expect(first.stdout).toMatch(/reboot: System halted/);
    expect(first.status).toBe(0);
    // The baseline the benchmark subtracts: the same boot without the walk.
    const skipped = boot(paging, ['--append', 'console=ttyS0 -- restart skip']);
    expect(skipped.stdout).toMatch(/paging-walk: skipped/);
    expect(skipped.stdout).not.toMatch(/paging-walk: (ok|BAD)/);
    expect(skipped.status).toBe(0);
    expect(skipped.stats.instructions).toBeLessThan(first.stats.instructions);
  });
});
