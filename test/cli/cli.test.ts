// vmrun as CI runs it: spawn `node bin/vmrun.js`, check the exit status, stdout (only the guest
// console) and stderr (one line saying why, plus details for crashes and timeouts).
// Needs the build output in dist/ (`npm test` builds first; alone, this file builds if dist/ is missing).
import { execSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'vmrun.js');
const env = { ...process.env, NO_COLOR: '1' };
delete env.FORCE_COLOR;

let dir = '';
const guest = (name: string, bytes: number[]): string => {
  const p = join(dir, name);
  writeFileSync(p, new Uint8Array(bytes));
  return p;
};

function vmrun(args: string[], input = '') {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, env, input, encoding: 'latin1', timeout: 30_000 });
  const stderrLines = r.stderr.split('\n').filter((l) => l.length > 0);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, stderrLines };
}

// Hand-assembled real-mode guests (flat binaries at 0000:7C00).
const print = (s: string): number[] => [0xba, 0xf8, 0x03, ...[...s].flatMap((c) => [0xb0, c.charCodeAt(0), 0xee])];
const exitWith = (v: number): number[] => [0xb0, v, 0xe6, 0xf4, 0xfa, 0xf4];
const SPIN = [0xfa, 0xeb, 0xfe]; // cli; jmp $
const ECHO = [
  0xba, 0xfd, 0x03, 0xec, 0xa8, 0x01, 0x74, 0xfb, 0xba, 0xf8, 0x03, 0xec, 0x3c, 0x71, 0x74, 0x04, 0xee,
  0xeb, 0xed, 0x90, ...exitWith(0),
]; // echo COM1 input until 'q', then exit 0

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
    try {
      execSync('npx tsc -p .', { cwd: root, stdio: 'ignore' });
    } catch {
      // Type errors elsewhere still emit JavaScript; the tests below say what is missing.
    }
  }
  dir = mkdtempSync(join(tmpdir(), 'vmrun-cli-'));
});

describe('vmrun usage', () => {
  it('--help prints usage on stdout and exits 0', () => {
    const r = vmrun(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: vmrun/);
    expect(r.stdout).toMatch(/--kernel <file>/);
    expect(r.stderr).toBe('');
  });

  it('--version prints the package version and exits 0', () => {
    const r = vmrun(['--version']);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('a missing kernel file: exit 2, exactly one line on stderr, nothing on stdout', () => {
    const r = vmrun(['--kernel', join(dir, 'no-such-kernel.bin')]);
    expect(r.status).toBe(2);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/^vmrun: cannot read kernel .*no-such-kernel\.bin: no such file$/);
    expect(r.stdout).toBe('');
  });

  it.each([
    [['--kernel', 'x', '-m', '1M'], /too small/],
    [['--kernel', 'x', '-m', 'lots'], /not a size/],
    [['--kernel', 'x', '--bogus'], /unknown option '--bogus'/],
    [[], /required option '--kernel/],
    [['--kernel', 'x', '--serial', 'tcp:4444'], /--serial/],
    [['--kernel', 'x', '--clock', 'fast'], /Allowed choices are virtual, realtime/],
    [['--kernel', 'x', '--cpu', 'z80'], /Allowed choices are pentium2, pentiumpro, i486/],
  ])('bad usage %j: exit 2 with one line', (args, message) => {
    const r = vmrun(args as string[]);
    expect(r.status).toBe(2);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/^vmrun: /);
    expect(r.stderrLines[0]).toMatch(message as RegExp);
    expect(r.stdout).toBe('');
  });

  it('an empty kernel file is bad input: exit 2 with one line', () => {
    const r = vmrun(['--kernel', guest('empty.bin', [])]);
    expect(r.status).toBe(2);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/empty/);
  });
});

describe('vmrun runs guests', () => {
  it('stdout carries exactly the guest console; stderr one line saying why it stopped', () => {
    const r = vmrun(['--kernel', guest('hello.bin', [...print('Hello\r\n'), ...exitWith(0)])]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('Hello\r\n');
    expect(r.stderrLines).toEqual(['vmrun: the guest wrote 0 to the exit port (exit status 0)']);
  });

  it('exit port values ≠ 0 give 1; --exit-port qemu gives QEMU’s status', () => {
    const k = guest('exit5.bin', exitWith(5));
    expect(vmrun(['--kernel', k]).status).toBe(1);
    expect(vmrun(['--kernel', k, '--exit-port', 'qemu']).status).toBe(11);
  });

  it('a triple fault exits 4 with the registers and the last exits on stderr', () => {
    const r = vmrun(['--kernel', guest('tf.bin', [0x0f, 0x01, 0x1e, 0x00, 0x05, 0xcc])]);
    expect(r.status).toBe(4);
    expect(r.stderrLines[0]).toMatch(/triple fault/);
    expect(r.stderr).toMatch(/EAX=[0-9a-f]{8}/);
    expect(r.stderr).toMatch(/last \d+ exits/);
    expect(r.stdout).toBe('');
  });

  it('--timeout exits 124 with the registers', () => {
    const r = vmrun(['--kernel', guest('spin.bin', SPIN), '--timeout', '0.3']);
    expect(r.status).toBe(124);
    expect(r.stderrLines[0]).toMatch(/^vmrun: timeout/);
    expect(r.stderr).toMatch(/EIP=00007c01/);
  });

  it('--expect stops with 0 and --fail-on with 1 when the console matches', () => {
    const k = guest('talk.bin', [...print('boot ok\nFAIL: x\n'), ...SPIN]);
    const e = vmrun(['--kernel', k, '--expect', 'boot ok', '--timeout', '10']);
    expect(e.status).toBe(0);
    expect(e.stderrLines[0]).toMatch(/matched --expect/);
    const f = vmrun(['--kernel', k, '--fail-on', '/fail:/i', '--timeout', '10']);
    expect(f.status).toBe(1);
    expect(f.stderrLines[0]).toMatch(/matched --fail-on/);
  });

  it('--fail-on wins over an orderly stop when the text came without a newline', () => {
    const r = vmrun(['--kernel', guest('failexit.bin', [...print('FAIL'), ...exitWith(0)]), '--fail-on', 'FAIL']);
    expect(r.status).toBe(1);
  });

  it('piped stdin reaches COM1', () => {
    const r = vmrun(['--kernel', guest('echo.bin', ECHO), '--timeout', '10'], 'hello q');
    expect(r.stdout).toBe('hello ');
    expect(r.status).toBe(0);
  });

  it('exits when the guest stops even though stdin stays open', async () => {
    const child = spawn(process.execPath, [bin, '--kernel', guest('bye.bin', exitWith(0))], { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        child.kill();
        resolve(-1);
      }, 10_000);
      child.on('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    child.stdin.destroy();
    expect(code).toBe(0);
  });

  it('--serial file:PATH writes the console there and leaves stdout empty', () => {
    const out = join(dir, 'console.txt');
    const r = vmrun(['--kernel', guest('hello2.bin', [...print('to file'), ...exitWith(0)]), '--serial', `file:${out}`]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(readFileSync(out, 'latin1')).toBe('to file');
  });

  it('--json prints one JSON object on stderr with the status, reason and stats', () => {
    const r = vmrun(['--kernel', guest('json.bin', [...print('x'), ...exitWith(0)]), '--json']);
    expect(r.status).toBe(0);
    expect(r.stderrLines).toHaveLength(1);
    const j = JSON.parse(r.stderrLines[0]) as Record<string, unknown>;
    expect(j).toMatchObject({ status: 0, reason: 'the guest wrote 0 to the exit port' });
    expect(j.instructions).toBeGreaterThan(0);
    expect(j.launchMs).toBeGreaterThan(0);
    expect(j.exits).toMatchObject({ byReason: { io: 2 }, byPort: { '0x3f8': 1, '0xf4': 1 } });
  });

  it('--stats adds counts after the stop line', () => {
    const r = vmrun(['--kernel', guest('stats.bin', exitWith(0)), '--stats']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/instructions in .* s wall \(.* MIPS\)/);
    expect(r.stderr).toMatch(/^vmrun: stats: launch to first guest instruction \d+\.\d{3} s$/m);
    expect(r.stderr).toMatch(/exits by port: 0xf4 1/);
  });

  it('runs the same from the one-file build and from the modules (VMRUN_BUNDLE=0)', () => {
    const args = ['--kernel', guest('same.bin', [...print('same'), ...exitWith(3)]), '--json'];
    const a = vmrun(args);
    const b = spawnSync(process.execPath, [bin, ...args], { cwd: root, env: { ...env, VMRUN_BUNDLE: '0' }, encoding: 'latin1', timeout: 30_000 });
    expect(a.status).toBe(1);
    expect(b.status).toBe(a.status);
    expect(b.stdout).toBe(a.stdout);
    const strip = (text: string) => JSON.parse(text.trim().split('\n').pop()!) as Record<string, unknown>;
    const ja = strip(a.stderr);
    const jb = strip(b.stderr);
    for (const j of [ja, jb]) {
      expect(j.launchMs).toBeGreaterThan(0);
      delete j.wallMs;
      delete j.mips;
      delete j.launchMs;
    }
    expect(jb).toEqual(ja);
  });

  it('--reboot restarts the machine on a guest reset (here until the timeout)', () => {
    const r = vmrun(['--kernel', guest('reset.bin', [0xb0, 0xfe, 0xe6, 0x64, 0xfa, 0xf4]), '--reboot', '--timeout', '0.3', '--json']);
    expect(r.status).toBe(124);
    const j = JSON.parse(r.stderrLines[r.stderrLines.length - 1]) as { resets: number };
    expect(j.resets).toBeGreaterThan(0);
    const once = vmrun(['--kernel', guest('reset.bin', [0xb0, 0xfe, 0xe6, 0x64, 0xfa, 0xf4])]);
    expect(once.status).toBe(0);
    expect(once.stderrLines[0]).toMatch(/reset.*--no-reboot/);
  });

  it('an unimplemented instruction exits 3 with one line naming CS:EIP and the bytes', () => {
    // addps xmm0, xmm1 (0F 58 C1): SSE is not implemented by the core.
    const r = vmrun(['--kernel', guest('sse.bin', [0x0f, 0x58, 0xc1, ...exitWith(0)])]);
    expect(r.status).toBe(3);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/0000:00007c00/);
    expect(r.stderrLines[0]).toMatch(/0f 58 c1/);
  });

  it("run as a command, it starts Node without NODE_EXTRA_CA_CERTS (its #! line unsets it)", () => {
    // Node reads that file before any JavaScript runs (about 40 ms for a system bundle) and warns
    // when it cannot: the warning shows whether Node looked at it.
    const hello = guest('ca.bin', [...print('ok'), ...exitWith(0)]);
    const certs = { ...env, NODE_EXTRA_CA_CERTS: join(dir, 'no-such-certs.pem') };
    const viaNode = spawnSync(process.execPath, [bin, '--kernel', hello], { cwd: root, env: certs, encoding: 'latin1', timeout: 30_000 });
    expect(viaNode.stderr).toMatch(/extra certs/); // the check sees Node's warning when it is there
    const asCommand = spawnSync(bin, ['--kernel', hello], { cwd: root, env: certs, encoding: 'latin1', timeout: 30_000 });
    expect(asCommand.status).toBe(0);
    expect(asCommand.stdout).toBe('ok');
    expect(asCommand.stderr).not.toMatch(/extra certs/);
  });
});
