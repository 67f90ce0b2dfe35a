// vmrun as CI runs it: spawn `node bin/vmrun.js`, check the exit status, stdout (only the guest
// console) and stderr (one line saying why, plus details for crashes and timeouts).
// Needs the build output in dist/ (`npm test` builds first; alone, this file builds if dist/ is missing).
import { execSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, linkSync, mkdtempSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
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

/** vmrun with fd 3 a pipe of its own (for --json-file /dev/fd/3). */
function vmrunFd3(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, env, encoding: 'latin1', timeout: 30_000, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  const fd3 = r.output[3] as unknown as string;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, fd3 };
}

// Hand-assembled real-mode guests (flat binaries at 0000:7C00).
const print = (s: string): number[] => [0xba, 0xf8, 0x03, ...[...s].flatMap((c) => [0xb0, c.charCodeAt(0), 0xee])];
const exitWith = (v: number): number[] => [0xb0, v, 0xe6, 0xf4, 0xfa, 0xf4];
const SPIN = [0xfa, 0xeb, 0xfe]; // cli; jmp $
const HALT = [0xfa, 0xf4]; // cli; hlt: halted for good
/** Bytes to port 0xE9, the debug console. */
const debugPrint = (s: string | number[]): number[] => [
  0xba, 0xe9, 0x00, ...(typeof s === 'string' ? [...s].map((c) => c.charCodeAt(0)) : s).flatMap((b) => [0xb0, b, 0xee]),
];
const post = (v: number): number[] => [0xb0, v, 0xe6, 0x80]; // mov al, v; out 0x80, al
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
    expect(r.stderr).toMatch(/EIP=00007c0[01]/); // 7c00: a loaded machine passed the deadline before the guest ran
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
    const r = vmrun(['--kernel', guest('reset.bin', [0xb0, 0xfe, 0xe6, 0x64, 0xfa, 0xf4]), '--reboot', '--timeout', '1.5', '--json']);
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

describe('inputs are regular files of bounded size', () => {
  it.each([
    ['/dev/zero', /^vmrun: cannot read kernel \/dev\/zero: it is a character device; vmrun reads the kernel from a regular file$/],
    [root, /: it is a directory/],
  ])('--kernel %s: exit 2 with one line, at once', (path, message) => {
    const started = Date.now();
    const r = vmrun(['--kernel', path]);
    expect(r.status).toBe(2);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(message);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a FIFO without a writer is refused before --timeout would even start', () => {
    const fifo = join(dir, 'fifo');
    if (!existsSync(fifo)) execSync(`mkfifo ${fifo}`);
    const started = Date.now();
    const r = vmrun(['--kernel', guest('k-fifo.bin', exitWith(0)), '--initrd', fifo]);
    expect(r.status).toBe(2);
    expect(r.stderrLines).toEqual([`vmrun: cannot read initrd ${fifo}: it is a FIFO; vmrun reads the initrd from a regular file`]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a file larger than guest RAM is refused without reading it', () => {
    const big = join(dir, 'big.bin');
    writeFileSync(big, new Uint8Array(3 * 1024 * 1024));
    const r = vmrun(['--kernel', big, '-m', '2M']);
    expect(r.status).toBe(2);
    expect(r.stderrLines).toEqual([`vmrun: cannot read kernel ${big}: it has 3145728 bytes, more than guest RAM (2 MiB; see -m)`]);
  });
});

describe('the guest cannot pass for vmrun on stderr', () => {
  // What a hostile guest printed on port 0xE9 before exiting 1: a fake stop line, a fake JSON
  // object, a CR that some line readers take for a line end, and a line left open.
  const forged = [
    ...debugPrint('vmrun: the guest wrote 0 to the exit port (exit status 0)\n{"status":0,"stop":"exit-port"}\n'),
    ...debugPrint('x\rvmrun: fake\r\n\x1b[2Kvmrun: erased\npartial'),
    ...exitWith(1),
  ];
  const lines = (text: string): string[] => text.split(/\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/).filter((l) => l !== '');

  it('--debugcon stderr (the default) marks every guest line and ends the open one', () => {
    const r = vmrun(['--kernel', guest('forge.bin', forged)]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'debugcon: vmrun: the guest wrote 0 to the exit port (exit status 0)\ndebugcon: {"status":0,"stop":"exit-port"}\n' +
        'debugcon: x\\x0dvmrun: fake\ndebugcon: \\x1b[2Kvmrun: erased\ndebugcon: partial\n' +
        'vmrun: the guest wrote 1 to the exit port (exit status 1)\n',
    );
    const own = lines(r.stderr).filter((l) => /^(vmrun:|\{)/.test(l));
    expect(own).toEqual(['vmrun: the guest wrote 1 to the exit port (exit status 1)']);
  });

  it('with --json, the one line that starts with "{" is vmrun\'s', () => {
    const r = vmrun(['--kernel', guest('forge.bin', forged), '--json']);
    const own = lines(r.stderr).filter((l) => /^(vmrun:|\{)/.test(l));
    expect(own).toHaveLength(1);
    expect(JSON.parse(own[0])).toMatchObject({ status: 1, stop: 'exit-port', exitValue: 1 });
  });

  it('--debugcon file:PATH gets the raw bytes and leaves stderr to vmrun; none drops them', () => {
    const path = join(dir, 'debugcon.txt');
    writeFileSync(path, 'old contents that are longer than what the guest writes, so truncation shows'.repeat(10));
    const r = vmrun(['--kernel', guest('forge.bin', forged), '--debugcon', `file:${path}`]);
    expect(r.stderrLines).toEqual(['vmrun: the guest wrote 1 to the exit port (exit status 1)']);
    expect(readFileSync(path, 'latin1')).toBe(
      'vmrun: the guest wrote 0 to the exit port (exit status 0)\n{"status":0,"stop":"exit-port"}\nx\rvmrun: fake\r\n\x1b[2Kvmrun: erased\npartial',
    );
    const none = vmrun(['--kernel', guest('forge.bin', forged), '--debugcon', 'none']);
    expect(none.stderrLines).toEqual(['vmrun: the guest wrote 1 to the exit port (exit status 1)']);
  });

  it('--json-file /dev/fd/3 puts the JSON on a channel of its own; stderr keeps the text line', () => {
    const r = vmrunFd3(['--kernel', guest('forge.bin', forged), '--json-file', '/dev/fd/3', '--debugcon', 'none']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('vmrun: the guest wrote 1 to the exit port (exit status 1)\n');
    expect(r.fd3.endsWith('\n')).toBe(true);
    expect(JSON.parse(r.fd3)).toMatchObject({ status: 1, stop: 'exit-port', exitValue: 1, reason: 'the guest wrote 1 to the exit port' });
  });

  it('--json-file PATH writes the JSON into a file', () => {
    const path = join(dir, 'report.json');
    const r = vmrun(['--kernel', guest('json2.bin', exitWith(0)), '--json-file', path]);
    expect(r.status).toBe(0);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ status: 0, stop: 'exit-port', exitValue: 0 });
  });

  it('the guest output may not go raw to vmrun\'s stderr', () => {
    const r = vmrun(['--kernel', guest('forge.bin', forged), '--debugcon', 'file:/dev/stderr']);
    expect(r.status).toBe(2);
    expect(r.stderrLines).toEqual([
      "vmrun: --debugcon file:/dev/stderr: /dev/stderr is vmrun's stderr, where the guest's lines would pass for vmrun's (use --debugcon stderr, which marks them)",
    ]);
  });

  it('with --exit-port qemu, a status that is also vmrun\'s own (3) says it came from the exit port', () => {
    const r = vmrunFd3(['--kernel', guest('exit1.bin', exitWith(1)), '--exit-port', 'qemu', '--json-file', '/dev/fd/3']);
    expect(r.status).toBe(3);
    expect(r.stderr).toBe('vmrun: the guest wrote 1 to the exit port (QEMU isa-debug-exit status 3) (exit status 3)\n');
    expect(JSON.parse(r.fd3)).toMatchObject({ status: 3, stop: 'exit-port', exitValue: 1 });
    const m = vmrunFd3(['--kernel', guest('sse2.bin', [0x0f, 0x58, 0xc1]), '--exit-port', 'qemu', '--json-file', '/dev/fd/3']);
    expect(m.status).toBe(3);
    expect(JSON.parse(m.fd3)).toMatchObject({ status: 3, stop: 'monitor-error' });
    expect(JSON.parse(m.fd3).exitValue).toBeUndefined();
  });
});

describe('console output that cannot be written ends the run with status 74', () => {
  const hello = (): string => guest('hello-74.bin', [...print('Hello\r\n'), ...exitWith(0)]);

  it('--serial file:/dev/full', () => {
    const r = vmrun(['--kernel', hello(), '--serial', 'file:/dev/full']);
    expect(r.status).toBe(74);
    expect(r.stderrLines).toEqual([
      'vmrun: the console output could not be written to /dev/full: no space left on the device (ENOSPC); before that, the guest wrote 0 to the exit port (exit status 74)',
    ]);
  });

  it('stdout on /dev/full, with the stop kind in the JSON', () => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [bin, '--kernel', hello(), '--json'], { cwd: root, env, encoding: 'latin1', timeout: 30_000, stdio: ['pipe', full, 'pipe'] });
      expect(r.status).toBe(74);
      expect(JSON.parse(r.stderr)).toMatchObject({ status: 74, stop: 'console-error' });
    } finally {
      closeSync(full);
    }
  });

  it('a reader that closed the pipe (EPIPE), as the run goes on: it stops at once', async () => {
    // The guest prints a line and spins; the output cannot be delivered, so the run ends.
    const child = spawn(process.execPath, [bin, '--kernel', guest('talk-spin.bin', [...print('hi\n'), ...SPIN]), '--timeout', '20'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(74);
    expect(stderr).toBe('vmrun: the console output could not be written to stdout: the reader closed the pipe (EPIPE) (exit status 74)\n');
  });

  /** vmrun with stdout a non-blocking pipe (as a parent may leave it) whose reader starts late. */
  function slowReader(args: string[], delay: number): string {
    const script = [
      'import os, subprocess, sys, time',
      'r, w = os.pipe()',
      'os.set_blocking(w, False)',
      'p = subprocess.Popen(sys.argv[2:], stdout=w, stderr=subprocess.PIPE)',
      'os.close(w)',
      'time.sleep(float(sys.argv[1]))',
      'n = 0',
      'while True:',
      '    b = os.read(r, 65536)',
      '    if not b: break',
      '    n += len(b)',
      'err = p.stderr.read().decode()',
      'p.wait()',
      'print(n, p.returncode)',
      'print(err, end="")',
    ].join('\n');
    const r = spawnSync('/usr/bin/python3', ['-c', script, String(delay), process.execPath, bin, ...args], { cwd: root, env, encoding: 'latin1', timeout: 60_000 });
    return r.stdout;
  }

  it('a non-blocking stdout pipe whose reader is slow loses nothing (EAGAIN is waited out)', () => {
    if (!existsSync('/usr/bin/python3')) return;
    // 200,000 bytes of console output, more than a pipe holds; the reader starts after 1 s.
    const loud = guest('loud.bin', [0xba, 0xf8, 0x03, 0x66, 0xb9, 0x40, 0x0d, 0x03, 0x00, 0xb0, 0x78, 0xee, 0x67, 0xe2, 0xfa, ...exitWith(0)]);
    expect(slowReader(['--kernel', loud], 1)).toBe('200000 0\nvmrun: the guest wrote 0 to the exit port (exit status 0)\n');
  });

  it('the guest waits for a reader that is far behind instead of queueing without bound', () => {
    if (!existsSync('/usr/bin/python3')) return;
    // 32-bit code: rep outsb of 1.5 MiB to COM1 (about 0.7 s of run time here), then exit 0.
    // The reader starts after 3 s; the guest waits for it once 1 MiB is queued, so the run
    // (wallMs) lasts until then.
    const size = 3 << 19;
    const le = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];
    const flood = guest('flood.bin', [0xba, ...le(0x3f8), 0xb9, ...le(size), 0xbe, ...le(0x100000), 0xf3, 0x6e, ...exitWith(0)]);
    const out = slowReader(['--kernel', flood, '--bits', '32', '--json'], 3).split('\n');
    expect(out[0]).toBe(`${size} 0`);
    const j = JSON.parse(out[1]) as { status: number; wallMs: number };
    expect(j.status).toBe(0);
    expect(j.wallMs).toBeGreaterThan(2500);
  });
});

describe('output files never overwrite an input', () => {
  it.each([
    ['--serial', (p: string) => ['--serial', `file:${p}`]],
    ['--debugcon', (p: string) => ['--debugcon', `file:${p}`]],
    ['--json-file', (p: string) => ['--json-file', p]],
  ])('%s naming the kernel, a symlink to it or a hard link to it is refused, the kernel untouched', (_name, option) => {
    const bytes = [...print('k'), ...exitWith(0)];
    const k = guest('input.bin', bytes);
    const sym = join(dir, `sym-${_name.slice(2)}`);
    const hard = join(dir, `hard-${_name.slice(2)}`);
    if (!existsSync(sym)) symlinkSync(k, sym);
    if (!existsSync(hard)) linkSync(k, hard);
    for (const target of [k, sym, hard]) {
      const r = vmrun(['--kernel', k, ...option(target)]);
      expect(r.status, target).toBe(2);
      expect(r.stderrLines, target).toHaveLength(1);
      expect(r.stderrLines[0]).toMatch(new RegExp(`is the kernel file ${k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; refusing to overwrite an input of the run$`));
      expect([...readFileSync(k)]).toEqual(bytes);
    }
  });

  it('the initrd is an input too; two outputs on one file are refused', () => {
    const k = guest('mb-in.bin', exitWith(0));
    const i = guest('initrd.img', [1, 2, 3]);
    const r = vmrun(['--kernel', k, '--initrd', i, '--serial', `file:${i}`]);
    expect(r.stderrLines).toEqual([`vmrun: --serial file:${i}: ${i} is the initrd file ${i}; refusing to overwrite an input of the run`]);
    expect([...readFileSync(i)]).toEqual([1, 2, 3]);
    const out = join(dir, 'shared.txt');
    const two = vmrun(['--kernel', k, '--serial', `file:${out}`, '--json-file', out]);
    expect(two.status).toBe(2);
    expect(two.stderrLines).toEqual([`vmrun: --json-file: ${out} is the same file as --serial file:${out}; give each output a file of its own`]);
  });

  it('stdout appended to the kernel (>> kernel) is refused', () => {
    const bytes = [...print('k'), ...exitWith(0)];
    const k = guest('append.bin', bytes);
    const fd = openSync(k, 'a');
    try {
      const r = spawnSync(process.execPath, [bin, '--kernel', k], { cwd: root, env, encoding: 'latin1', timeout: 30_000, stdio: ['pipe', fd, 'pipe'] });
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`vmrun: stdout is the kernel file ${k}; refusing to write the console into an input of the run\n`);
    } finally {
      closeSync(fd);
    }
    expect([...readFileSync(k)]).toEqual(bytes);
  });

  it('an existing output file is truncated, as QEMU\'s file chardev does', () => {
    const out = join(dir, 'truncated.txt');
    writeFileSync(out, 'x'.repeat(1000));
    const r = vmrun(['--kernel', guest('short.bin', [...print('ab'), ...exitWith(0)]), '--serial', `file:${out}`]);
    expect(r.status).toBe(0);
    expect(readFileSync(out, 'latin1')).toBe('ab');
  });
});

describe('--timeout, --expect and --success', () => {
  it('a tiny --timeout is a timeout, named as the user wrote it', () => {
    const r = vmrun(['--kernel', guest('spin2.bin', SPIN), '--timeout', '0.0001']);
    expect(r.status).toBe(124);
    expect(r.stderrLines[0]).toBe('vmrun: timeout: the guest was still running after 0.0001 s (exit status 124)');
  });

  it('--reboot --timeout reports the user\'s seconds', () => {
    const r = vmrun(['--kernel', guest('reset2.bin', [0xb0, 0xfe, 0xe6, 0x64, 0xfa, 0xf4]), '--reboot', '--timeout', '1.5']);
    expect(r.status).toBe(124);
    expect(r.stderrLines[0]).toMatch(/^vmrun: timeout: the guest was still running after 1\.5 s \(it had reset the machine \d+ times\) \(exit status 124\)$/);
  });

  it('--expect that never matched fails an orderly stop with status 5', () => {
    const k = guest('no-login.bin', [...print('Welcome\n'), ...HALT]);
    const r = vmrun(['--kernel', k, '--expect', 'login:']);
    expect(r.status).toBe(5);
    expect(r.stderrLines).toEqual([
      'vmrun: the guest halted with interrupts disabled (halted for good), but the console output never matched --expect /login:/ (exit status 5)',
    ]);
    expect(vmrun(['--kernel', guest('exit0.bin', exitWith(0)), '--expect', 'login:', '--json']).stderr).toMatch(/"status":5,"stop":"expect-unmatched"/);
    expect(vmrun(['--kernel', k, '--expect', 'Welcome']).status).toBe(0);
    // A guest that reported failure keeps its own status.
    expect(vmrun(['--kernel', guest('exit7.bin', exitWith(7)), '--expect', 'login:']).status).toBe(1);
  });

  it('--success exit-port: halting with IF=0 is a failure; writing 0 to the exit port is success', () => {
    const halts = guest('halts.bin', [...print('test failed\n'), ...HALT]);
    expect(vmrun(['--kernel', halts]).status).toBe(0); // the documented default
    const r = vmrun(['--kernel', halts, '--success', 'exit-port', '--json']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stderrLines[0])).toMatchObject({
      status: 1,
      stop: 'success-unmet',
      reason: 'the guest halted with interrupts disabled (halted for good), not by writing 0 to the exit port (--success exit-port)',
    });
    expect(vmrun(['--kernel', guest('exit0b.bin', exitWith(0)), '--success', 'exit-port']).status).toBe(0);
  });

  it('--success post:CODE checks the last POST code', () => {
    const ok = guest('post-ok.bin', [...post(0x12), ...post(0x42), ...HALT]);
    const bad = guest('post-bad.bin', [...post(0x42), ...post(0x13), ...HALT]);
    expect(vmrun(['--kernel', ok, '--success', 'post:0x42']).status).toBe(0);
    const r = vmrun(['--kernel', bad, '--success', 'post:0x42']);
    expect(r.status).toBe(1);
    expect(r.stderrLines).toEqual([
      'vmrun: the guest halted with interrupts disabled (halted for good), but the last POST code was 0x13 (--success post:0x42) (exit status 1)',
    ]);
    expect(vmrun(['--kernel', guest('nopost.bin', HALT), '--success', 'post:0x00']).stderrLines[0]).toMatch(/but no POST code was written to port 0x80/);
    expect(JSON.parse(vmrun(['--kernel', bad, '--json']).stderrLines[0])).toMatchObject({ status: 0, stop: 'halt', postCode: 0x13 });
  });
});

describe('messages', () => {
  it.each([
    [['-kernel', 'x'], "vmrun: unknown option '-kernel' (did you mean --kernel?)"],
    [['--kernal', 'x'], "vmrun: unknown option '--kernal' (did you mean --kernel?)"],
  ])('%j names the unknown option and the right one', (args, line) => {
    const r = vmrun(args);
    expect(r.status).toBe(2);
    expect(r.stderrLines).toEqual([line]);
  });

  it('Ctrl-A h prints the help on a line of its own; Ctrl-A x quits', () => {
    if (!existsSync('/usr/bin/python3')) return;
    // A terminal on stdin (a pty): the guest prints "abc" without a newline and spins.
    const k = guest('abc-spin.bin', [...print('abc'), ...SPIN]);
    const script = [
      'import os, pty, sys, time, select',
      'pid, fd = pty.fork()',
      'if pid == 0:',
      '    os.execv(sys.argv[1], sys.argv[1:])',
      'out = b""',
      'def until(text, seconds=15):',
      '    global out',
      '    end = time.time() + seconds',
      '    while text not in out and time.time() < end:',
      '        if select.select([fd], [], [], 0.1)[0]:',
      '            try: out += os.read(fd, 4096)',
      '            except OSError: break',
      'until(b"abc")',
      'os.write(fd, b"\\x01h")',
      'until(b"this help")',
      'os.write(fd, b"\\x01x")',
      'until(b"exit status")',
      '_, status = os.waitpid(pid, 0)',
      'sys.stdout.write(repr(out) + "\\n" + str(os.waitstatus_to_exitcode(status)) + "\\n")',
    ].join('\n');
    const r = spawnSync('/usr/bin/python3', ['-c', script, process.execPath, bin, '--kernel', k], { cwd: root, env, encoding: 'latin1', timeout: 60_000 });
    const [out, code] = r.stdout.trim().split('\n');
    expect(out).toMatch(/abc\\r(\\r)?\\nvmrun console: Ctrl-A x quit, Ctrl-A Ctrl-A send Ctrl-A, Ctrl-A h this help\\r/);
    expect(out).toMatch(/vmrun: quit from the console \(Ctrl-A x\) \(exit status 0\)/);
    expect(code).toBe('0');
  });
});

describe('loaders, end to end', () => {
  it('a multiboot kernel linked at 0x8000, over where the information used to go, boots and reads it', () => {
    // a.out kludge: load_addr 0x8000, bss to 0x9100, entry 0x8020. The code checks EAX, prints
    // the command line EBX's structure points to, and writes 0 to the exit port (1 on a bad EAX).
    const header = [0x1badb002, 0x00010000, -(0x1badb002 + 0x00010000), 0x8000, 0x8000, 0, 0x9100, 0x8020];
    const bytes = header.flatMap((w) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, (w >>> 24) & 0xff]);
    bytes.push(
      0x3d, 0x02, 0xb0, 0xad, 0x2b, // cmp eax, 0x2badb002
      0x75, 0x15, // jne fail
      0x8b, 0x73, 0x10, // mov esi, [ebx + 16]
      0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
      0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, // lodsb; test al, al; jz done; out dx, al; jmp
      ...exitWith(0), // done
      ...exitWith(1), // fail
    );
    const k = guest('mb-low.bin', bytes);
    const r = vmrun(['--kernel', k, '--append', 'hello mb', '--stats']);
    expect(r.stderrLines[0]).toBe('vmrun: the guest wrote 0 to the exit port (exit status 0)');
    expect(r.stdout).toBe(`${k} hello mb`);
    expect(r.stderr).toMatch(/multiboot .*: \[0x8000, 0x9100\), entry 0x8020, info at 0x1000/);
  });

  it('a bzImage whose "HdrS" is damaged is refused, not run from 0000:7C00', () => {
    const bytes = readFileSync(join(root, 'images/linux/bzImage'));
    bytes[0x203] ^= 0x20;
    const k = join(dir, 'bzImage-damaged');
    writeFileSync(k, bytes);
    const r = vmrun(['--kernel', k]);
    expect(r.status).toBe(2);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/^vmrun: .*bzImage-damaged: not loadable: a Linux kernel image .* whose "HdrS" magic at 0x202 is damaged/);
  });
});
