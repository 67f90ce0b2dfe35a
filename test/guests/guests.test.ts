// The test guests in images/guests, each run through the real CLI (node bin/vmrun.js), asserting
// the console output byte for byte and the exit status.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const guest = (name: string) => path.join(root, 'images/guests', `${name}.bin`);

function vmrun(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/vmrun.js'), ...args], {
    input: input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('test guests through the CLI', () => {
  it('hello prints over the UART and exits 0 through the exit port', () => {
    const r = vmrun(['--kernel', guest('hello')]);
    expect(r.stdout).toBe('Hello from vmrun guest\r\n');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/exit port/);
  });

  it('pit-tick counts 100 IRQ0 ticks from the PIT through the PIC with HLT', () => {
    const r = vmrun(['--kernel', guest('pit-tick')]);
    expect(r.stdout).toBe('pit-tick: 100 ticks\r\n');
    expect(r.status).toBe(0);
  });

  it('uart-irq echoes piped input through receive interrupts', () => {
    const r = vmrun(['--kernel', guest('uart-irq')], 'hello q');
    expect(r.stdout).toBe('HELLO Q\r\nuart-irq: bye\r\n');
    expect(r.status).toBe(0);
  });

  it('pm-paging goes real → protected → paging, takes a #PF, maps the page and resumes', () => {
    const r = vmrun(['--kernel', guest('pm-paging')]);
    expect(r.stdout).toBe('pm-paging: ok\r\n');
    expect(r.status).toBe(0);
  });

  it('deterministic by default: two runs give the same output and instruction count', () => {
    const a = vmrun(['--kernel', guest('pit-tick'), '--stats', '--json']);
    const b = vmrun(['--kernel', guest('pit-tick'), '--stats', '--json']);
    const count = (s: string) => JSON.parse(s.trim().split('\n').filter((l) => l.startsWith('{')).pop()!).instructions;
    expect(a.stdout).toBe(b.stdout);
    expect(count(a.stderr)).toBeGreaterThan(0);
    expect(count(a.stderr)).toBe(count(b.stderr));
  });

  it('--timeout on a guest that spins exits 124 after about the timeout, with registers', () => {
    const t0 = Date.now();
    const r = vmrun(['--kernel', guest('spin'), '--timeout', '2']);
    const secs = (Date.now() - t0) / 1000;
    expect(r.status).toBe(124);
    expect(secs).toBeGreaterThan(1.9);
    expect(secs).toBeLessThan(10);
    expect(r.stderr).toMatch(/EIP=/);
  });

  it('a triple-faulting guest exits 4 with the registers on stderr', () => {
    const r = vmrun(['--kernel', guest('triple-fault')]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/triple fault/);
    expect(r.stderr).toMatch(/EIP=/);
  });

  it('an unimplemented instruction exits 3 naming CS:EIP and the bytes', () => {
    const r = vmrun(['--kernel', guest('bad-opcode')]);
    expect(r.stdout).toBe('bad-opcode\r\n');
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/0000:00007c3d/);
    expect(r.stderr).toMatch(/0f 58 c1/);
  });

  it('--expect stops with 0 when the console matches', () => {
    const r = vmrun(['--kernel', guest('spin'), '--expect', 'never', '--timeout', '1']);
    expect(r.status).toBe(124);
    const ok = vmrun(['--kernel', guest('pit-tick'), '--expect', 'pit-tick: \\d+ ticks']);
    expect(ok.status).toBe(0);
  });

  it('--fail-on stops with 1 when the console matches', () => {
    const r = vmrun(['--kernel', guest('hello'), '--fail-on', 'Hello']);
    expect(r.status).toBe(1);
  });

  it('--exit-port qemu maps a written value v to (v << 1) | 1', () => {
    const r = vmrun(['--kernel', guest('hello'), '--exit-port', 'qemu']);
    expect(r.status).toBe(1);
  });
});
