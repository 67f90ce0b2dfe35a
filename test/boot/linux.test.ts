// A real Linux 6.1 i386 kernel (images/linux, built by images/linux/build.sh) booted through the
// CLI to its userspace marker, powered off, and booted again to check determinism.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const kernel = path.join(root, 'images/linux/bzImage');
const initrd = path.join(root, 'images/linux/initramfs.cpio.gz');

function boot(extra: string[] = []) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/vmrun.js'), '--kernel', kernel, '--initrd', initrd,
    '--stats', '--json', '--timeout', '120', ...extra], { encoding: 'utf8', timeout: 180_000, input: '', env: { ...process.env, NO_COLOR: '1' } });
  const json = r.stderr.split('\n').filter((l) => l.startsWith('{')).pop();
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, stats: json ? JSON.parse(json) : null };
}

describe.skipIf(!existsSync(kernel))('Linux boot', () => {
  const first = boot();

  it('boots to the userspace marker and exits 0 when the guest powers off', () => {
    if (first.status !== 0) console.error(first.stderr.slice(-2000));
    expect(first.stdout).toMatch(/Linux version 6\.1\.\d+/);
    expect(first.stdout).toMatch(/vmrun-init: hello from userspace/);
    expect(first.stdout).toMatch(/vmrun-init: fp ok: sqrt\(2\)\*1e6 = 1414214, 1e6\/7 = 142857/);
    expect(first.stdout).toMatch(/reboot: System halted/);
    expect(first.status).toBe(0);
  });

  it('the default command line is console=ttyS0', () => {
    expect(first.stdout).toMatch(/Kernel command line: console=ttyS0/);
  });

  it('is deterministic: a second boot prints the same bytes after the same instruction count', () => {
    const second = boot();
    expect(second.status).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stats.instructions).toBe(first.stats.instructions);
  });

  it('a reboot request ends the run under --no-reboot (the default)', () => {
    const r = boot(['--append', 'console=ttyS0 -- restart']);
    expect(r.stdout).toMatch(/vmrun-init: hello from userspace/);
    expect(r.status).toBe(0);
    expect(r.stats.reason).toMatch(/reset|reboot/);
  });
});
