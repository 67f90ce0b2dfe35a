// A busybox shell on the bundled Linux kernel (images/linux/initramfs-busybox.cpio.gz, built by
// images/linux/build-busybox.sh) gets console input that was piped before the kernel started:
// vmrun holds it until the 8250 driver has opened the port, then feeds it as the guest reads.
// Also: a terminal session through tmux (skipped without tmux), and the count of input a guest
// never read.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin/vmrun.js');
const kernel = path.join(root, 'images/linux/bzImage');
const busybox = path.join(root, 'images/linux/initramfs-busybox.cpio.gz');
const env = { ...process.env, NO_COLOR: '1' };

function vmrun(args: string[], input: string) {
  const r = spawnSync(process.execPath, [bin, ...args, '--json'], { encoding: 'utf8', timeout: 180_000, input, env });
  const json = r.stderr.split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0) console.error(r.stdout.slice(-1500), r.stderr.slice(-1500));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, stats: json ? JSON.parse(json) : null };
}

const shell = (append: string, input: string) =>
  vmrun(['--kernel', kernel, '--initrd', busybox, '--append', append, '--timeout', '90'], input);

describe.skipIf(!existsSync(busybox))('busybox shell, input piped at time 0', () => {
  it('rdinit=/bin/sh: the shell runs every command piped before the kernel booted', () => {
    const r = shell('console=ttyS0 rdinit=/bin/sh', 'echo vmrun-$((6*7))\nuname -m\npoweroff -f\n');
    expect(r.stdout).toMatch(/BusyBox v1\.35\.0 .* built-in shell \(ash\)/);
    // The results, each on a line of its own (the command lines only echo what was typed).
    expect(r.stdout).toMatch(/^vmrun-42\r?$/m);
    expect(r.stdout).toMatch(/^i686\r?$/m);
    expect(r.stdout).toMatch(/reboot: System halted/);
    expect(r.status).toBe(0);
    expect(r.stats.consoleInputUnread).toBe(0);
  });

  it('/init is busybox init: /proc mounted, a login shell on ttyS0, poweroff through init', () => {
    const r = shell('console=ttyS0', 'echo vmrun-$((6*7))\nhead -c 13 /proc/version; echo\npoweroff\n');
    expect(r.stdout).toMatch(/^vmrun-42\r?$/m);
    expect(r.stdout).toMatch(/^Linux version\r?$/m);
    expect(r.stdout).toMatch(/The system is going down NOW!/);
    expect(r.stdout).toMatch(/reboot: System halted/);
    expect(r.status).toBe(0);
  });
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe.skipIf(!existsSync(busybox) || !hasTmux)('busybox shell at a terminal (tmux)', () => {
  it('takes typed commands, Ctrl-C interrupts a command, Ctrl-A x quits with status 0', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vmrun-tmux-'));
    const sock = path.join(dir, 'tmux.sock');
    const statusFile = path.join(dir, 'status');
    const tmux = (...args: string[]) => spawnSync('tmux', ['-S', sock, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-J', '-S', '-200').stdout;
    const waitFor = async (re: RegExp, ms: number): Promise<string> => {
      const end = Date.now() + ms;
      for (;;) {
        const text = screen();
        if (re.test(text)) return text;
        if (Date.now() > end) throw new Error(`tmux: no ${String(re)} within ${ms} ms; screen:\n${text}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const cmd = `'${process.execPath}' '${bin}' --kernel '${kernel}' --initrd '${busybox}' --append 'console=ttyS0 quiet' --timeout 120; echo $? > '${statusFile}'; sleep 60`;
    try {
      expect(tmux('new-session', '-d', '-x', '100', '-y', '40', cmd).status).toBe(0);
      // quiet: no kernel messages (the clocksource switch) in the middle of the session.
      await waitFor(/^vmrun:\/# /m, 90_000);
      tmux('send-keys', '-l', 'echo typed-$((6*7))');
      tmux('send-keys', 'Enter');
      await waitFor(/^typed-42$/m, 20_000);
      tmux('send-keys', '-l', 'sleep 50');
      tmux('send-keys', 'Enter');
      await new Promise((r) => setTimeout(r, 1000));
      tmux('send-keys', 'C-c');
      await waitFor(/^\^C\s*\nvmrun:\/# ?$/m, 20_000);
      tmux('send-keys', 'C-a', 'x');
      const end = Date.now() + 20_000;
      while (!existsSync(statusFile) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
      expect(readFileSync(statusFile, 'utf8').trim()).toBe('0');
      expect(screen()).toMatch(/vmrun: quit from the console \(Ctrl-A x\) \(exit status 0\)/);
    } finally {
      tmux('kill-server');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('console input the guest never reads', () => {
  it('is counted in --json (consoleInputUnread) and --stats', () => {
    // spin: cli; jmp $ — it never touches the UART, so the receiver is never ready.
    const spin = path.join(root, 'images/guests/spin.bin');
    const r = vmrun(['--kernel', spin, '--timeout', '1.5'], 'abc\n');
    expect(r.status).toBe(124);
    expect(r.stats.consoleInputUnread).toBe(4);
    const s = spawnSync(process.execPath, [bin, '--kernel', spin, '--timeout', '1.5', '--stats'], { encoding: 'utf8', input: 'abc\n', env });
    expect(s.stderr).toMatch(/^vmrun: stats: console input: 4 bytes the guest did not read$/m);
  });
});
