// The monitor stays in charge whatever the guest does: a guest in an endless exception loop
// (images/guests/fault-loop: #UD whose handler is the faulting UD2, retiring nothing) is still
// stopped by --timeout and by signals, promptly, and a terminal in raw mode is restored.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const vmrun = path.join(root, 'bin/vmrun.js');
const faultLoop = path.join(root, 'images/guests/fault-loop.bin');
const env = { ...process.env, NO_COLOR: '1' };

const work = mkdtempSync(path.join(tmpdir(), 'vmrun-control-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Start vmrun; resolve with its status and how long after `signal` (sent at `afterMs`) it ended. */
function runAndSignal(args: string[], signal: NodeJS.Signals, afterMs: number): Promise<{ status: number | null; sinceSignal: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [vmrun, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let sentAt = 0;
    const timer = setTimeout(() => {
      sentAt = performance.now();
      child.kill(signal);
    }, afterMs);
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('exit', (status) => {
      clearTimeout(timer);
      clearTimeout(guard);
      resolve({ status, sinceSignal: performance.now() - sentAt, stderr });
    });
  });
}

describe('a guest that loops delivering exceptions', () => {
  it('is stopped by --timeout 1 within 1.5 s (status 124)', () => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [vmrun, '--kernel', faultLoop, '--timeout', '1'], { env, encoding: 'utf8', timeout: 20_000 });
    const wall = performance.now() - t0;
    expect(r.status).toBe(124);
    expect(r.stderr).toMatch(/^vmrun: timeout: the guest was still running after 1 s \(exit status 124\)/);
    expect(wall).toBeLessThan(1500);
  });

  for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
    it(`is stopped by ${signal} within 0.5 s (status ${status})`, async () => {
      const r = await runAndSignal(['--kernel', faultLoop], signal, 400);
      expect(r.status).toBe(status);
      expect(r.stderr).toMatch(new RegExp(`^vmrun: stopped by ${signal} \\(exit status ${status}\\)`));
      expect(r.sinceSignal).toBeLessThan(500);
    });
  }

  it.skipIf(spawnSync('script', ['--version']).status !== 0)('leaves a terminal as it found it after SIGTERM', () => {
    // script(1) gives vmrun a pseudo-terminal on stdin, so vmrun puts it in raw mode; the shell
    // around it records the terminal's settings before and after.
    const before = path.join(work, 'before'), after = path.join(work, 'after'), pid = path.join(work, 'pid');
    const inner = path.join(work, 'inner.sh');
    writeFileSync(inner, [
      `stty -a > ${before}`,
      `sh -c 'echo $$ > ${pid}; exec "${process.execPath}" "${vmrun}" --kernel "${faultLoop}" --clock virtual'`,
      `echo "status $?" > ${after}`,
      `stty -a >> ${after}`,
    ].join('\n') + '\n');
    const killer = `sleep 1; kill -TERM $(cat ${pid})`;
    const r = spawnSync('sh', ['-c', `(${killer}) & script -qec 'sh ${inner}' /dev/null; wait`], { env, encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    const settings = readFileSync(after, 'utf8');
    expect(settings).toMatch(/^status 143\n/);
    const flags = (text: string) => (text.match(/-?\b(icanon|echo|isig|icrnl|opost)\b/g) ?? []).sort();
    expect(flags(settings)).toEqual(flags(readFileSync(before, 'utf8')));
    expect(flags(settings)).toContain('icanon');
  });

});

describe('a guest that waits only for console input', () => {
  it('stops at once as idle when stdin has ended', () => {
    // uart-irq: IRQ4 only (the PIT is masked), echoes input until "q"; stdin ends before that.
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [vmrun, '--kernel', path.join(root, 'images/guests/uart-irq.bin'), '--timeout', '10', '--json'],
      { env, encoding: 'utf8', input: 'hello', timeout: 20_000 });
    expect(r.stdout).toBe('HELLO');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stderr.trim().split('\n').pop()!).stop).toBe('idle');
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
