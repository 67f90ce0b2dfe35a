// Reproducers of the process-level fuzzer's findings outside the block compiler (after
// `npm run build`), kept as regression tests now that each is fixed.
//
// vmrun's last line glued to the guest's debug-console output: a guest that writes to port 0xE9
// without a newline and stops got "A" + vmrun's stop line (or its --json object) on one line,
// which was then neither vmrun's format nor the JSON a script parses (e9-unfinished-line.bin:
// `mov al, 'A' ; out 0xe9, al ; cli ; hlt`; seen by the long run with a random stream, case
// 4000:274). Now the debug console's lines are marked `debugcon: ` and an unfinished one is ended
// before vmrun writes.
//
// A guest that writes the page it executes from at every instruction ran at 0.1-0.5 MIPS with the
// garbage collector taking about 80 % of the time, its peak RSS grew to 250-700 MiB, and
// --timeout was overrun by seconds:
//   smc-loop.bin: `mov di, 0x7d00 ; l: inc byte [di] ; jmp l` (a boot sector)
//   cli-stream16-into-zeroes.bin: a random 16-bit stream (the fuzzer's case 1000:1) that ends
//   up executing the zeroed IVT page, `add [bx+si], al` writing to it at each instruction —
//   the most common way a random guest gets there (most of the long run's timeout, RSS and
//   hang findings). Now a write drops only the code it overlaps, a page that keeps being
//   rewritten runs uncached, and the run loop looks at the clock every few milliseconds.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function run(file: string, args: string[]): { status: number | null; wallMs: number; rssKiB: number } {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, 'bin/vmrun.js', '--kernel', `test/fuzz/repro/${file}`, ...args], { cwd: ROOT, encoding: 'utf8' });
  const wallMs = performance.now() - t0;
  return { status: r.status, wallMs, rssKiB: Number(r.stderr.trim().split('\n').pop()) };
}

describe('the debug console through the CLI', () => {
  it('vmrun\'s stop line starts a line of its own after the guest\'s unfinished 0xE9 output', () => {
    const r = spawnSync(process.execPath, ['bin/vmrun.js', '--kernel', 'test/fuzz/repro/e9-unfinished-line.bin'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l !== '')).toEqual(['debugcon: A', 'vmrun: the guest halted with interrupts disabled (halted for good) (exit status 0)']);
  });

  it('with --json, the object is the last line, on its own', () => {
    const r = spawnSync(process.execPath, ['bin/vmrun.js', '--kernel', 'test/fuzz/repro/e9-unfinished-line.bin', '--json'], { cwd: ROOT, encoding: 'utf8' });
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines[0]).toBe('debugcon: A');
    expect((JSON.parse(lines[lines.length - 1]) as { status: number }).status).toBe(0);
  });
});

describe('self-modifying code through the CLI', () => {
  for (const file of ['smc-loop.bin', 'cli-stream16-into-zeroes.bin']) {
    it(`${file}: --timeout 0.5 ends the run within 1 s, below 128 MiB of guest RAM + 128 MiB`, () => {
      const r = run(file, ['--timeout', '0.5', '-m', '128M', '--json']);
      expect(r.status).toBe(124);
      expect(r.wallMs).toBeLessThan(1000);
      expect(r.rssKiB).toBeLessThan(256 * 1024);
    });
  }
});
