// The process-level fuzzer's checks (checkCliResult) on made-up runs: each promise it checks is
// broken once, and the check must say so; well-formed output must pass.
import { describe, expect, it } from 'vitest';
import { checkCliResult, type CliCase, type CliResult } from './cli-fuzz.js';

const DUMP = [
  'EAX=00000010 EBX=00000000 ECX=00000000 EDX=00000080',
  'ESI=00000000 EDI=00000000 EBP=00000000 ESP=00007c00',
  'EIP=00007c38 EFL=00000006 CS:EIP=0008:00007c38',
  'CS=0008 00000000 ffffffff type b D  SS=0010 00000000 ffffffff type 3 D',
  'DS=0010 00000000 ffffffff type 3 D  ES=0010 00000000 ffffffff type 3 D',
  'FS=0000 00000000 0000ffff type 3  GS=0000 00000000 0000ffff type 3 NP',
  'GDT=00007c40 0017  IDT=00000000 0000  TR=0000',
  'CR0=00000011 CR2=00000000 CR3=00000000 CR4=00000000 EFER=00000000',
  'last 2 exits (oldest first):',
  '  exit io outb 0xe9 (debugcon) = 0x41 @17',
  '  exit shutdown @18',
];

function kase(o: Partial<CliCase> = {}): CliCase {
  return { id: 't:0', kind: 'stream16', base: 'test', mutations: [], image: new Uint8Array(1), args: [], timeoutS: 1, memMiB: 16, qemuExit: false, json: false, ...o };
}

function result(o: Partial<CliResult> = {}): CliResult {
  return { status: 4, signal: null, wallMs: 400, cpuMs: 300, rssKiB: 60 * 1024, stdoutBytes: 0, stderr: '', stop: 'text', hung: false, ...o };
}

const textCrash = ['vmrun: the guest crashed: triple fault (shutdown) (exit status 4)', ...DUMP, 'vmrun: stats: 1 exits: shutdown 1', 'vmrun: stats: exits by port: 0xe9 1'].join('\n') + '\n';
const json = (o: object): string => JSON.stringify({ status: 4, stop: 'triple-fault', reason: 'the guest crashed: triple fault (shutdown)', exits: { total: 1, byReason: {}, byPort: {} }, dump: DUMP, ...o }) + '\n';

describe('checkCliResult', () => {
  it('accepts a crash with its register dump and stats, in text and in JSON', () => {
    expect(checkCliResult(kase(), result({ stderr: textCrash }))).toEqual([]);
    expect(checkCliResult(kase({ json: true }), result({ stderr: json({}) }))).toEqual([]);
  });

  it('accepts one usage line for status 2, and nothing more', () => {
    expect(checkCliResult(kase({ json: true }), result({ status: 2, stderr: 'vmrun: x.bin: file is empty\n' }))).toEqual([]);
    expect(checkCliResult(kase(), result({ status: 2, stderr: 'vmrun: x.bin: file is empty\nmore\n' }))).toHaveLength(1);
  });

  it('rejects an undocumented status, but takes any odd one with --exit-port qemu', () => {
    expect(checkCliResult(kase(), result({ status: 7, stderr: textCrash.replace('(exit status 4)', '(exit status 7)').replace(/^(?:[A-Z].*|last.*|  exit.*)\n/gm, '') }))).toContain('exit status 7 is not a documented one');
    expect(checkCliResult(kase({ qemuExit: true, json: true }), result({ status: 7, stderr: json({ status: 7, stop: 'exit-port', dump: undefined }) }))).toEqual([]);
    expect(checkCliResult(kase({ qemuExit: true, json: true }), result({ status: 8, stderr: json({ status: 8, stop: 'exit-port', dump: undefined }) }))).toContain('exit status 8 is not a documented one');
  });

  it('rejects a stack trace, a core error and a JSON status that is not the process\'s', () => {
    const escaped = (stderr: string): boolean => checkCliResult(kase(), result({ stderr: stderr + textCrash })).some((v) => v.includes('exception escaped'));
    expect(escaped('    at Cpu.run (file:///dist/cpu/cpu.js:10:5)\n')).toBe(true);
    expect(escaped('    at file:///dist/cpu/cpu.js:10:5\n')).toBe(true);
    expect(escaped('TypeError: x is undefined\n')).toBe(true);
    expect(escaped('Uncaught RangeError\n')).toBe(true);
    expect(checkCliResult(kase({ json: true }), result({ stderr: json({ reason: 'monitor error: core error: boom' }) })).some((v) => v.includes('inside the core'))).toBe(true);
    expect(checkCliResult(kase({ json: true }), result({ status: 0, stderr: json({}) }))).toContain('--json: status 4 but the process exited with 0');
  });

  it('rejects a run past its timeout by more than 0.5 s, and peak RSS above guest RAM + 128 MiB', () => {
    expect(checkCliResult(kase(), result({ stderr: textCrash, wallMs: 1499 }))).toEqual([]);
    expect(checkCliResult(kase(), result({ stderr: textCrash, wallMs: 1501 }))).toHaveLength(1);
    expect(checkCliResult(kase(), result({ stderr: textCrash, rssKiB: 145 * 1024 }))).toHaveLength(1);
    expect(checkCliResult(kase(), result({ hung: true, status: null }))[0]).toMatch(/^hang/);
  });

  it('rejects a register dump that is not in vmrun\'s format', () => {
    expect(checkCliResult(kase(), result({ stderr: textCrash.replace('EFL=00000006', 'EFLAGS=6') }))).toHaveLength(1);
    expect(checkCliResult(kase(), result({ stderr: textCrash.replace('  exit shutdown @18', 'exit shutdown @18') })).length).toBeGreaterThan(0);
    expect(checkCliResult(kase({ json: true }), result({ stderr: json({ dump: DUMP.slice(1) }) })).length).toBeGreaterThan(0);
  });

  it('counts the debug console\'s bytes against the guest\'s port 0xE9 writes', () => {
    // One 0xE9 write: "AB" is two bytes, one too many (the line end may be vmrun's).
    expect(checkCliResult(kase(), result({ stderr: 'debugcon: AB\n' + textCrash }))).toContain('2 bytes on stderr are not vmrun\'s lines, and the guest wrote 1 to the debug console (port 0xE9)');
    expect(checkCliResult(kase(), result({ stderr: 'debugcon: A\n' + textCrash }))).toEqual([]);
    expect(checkCliResult(kase({ json: true }), result({ stderr: 'debugcon: hello\n' + json({ exits: { byPort: { '0xe9': 6 } } }) }))).toEqual([]);
    expect(checkCliResult(kase({ json: true }), result({ stderr: 'debugcon: hello\n' + json({}) })).length).toBe(1);
    // An escaped byte is one byte of the guest's.
    expect(checkCliResult(kase({ json: true }), result({ stderr: 'debugcon: \\x00\\x01\n' + json({ exits: { byPort: { '0xe9': 2 } } }) }))).toEqual([]);
  });

  it('reports a line that is neither vmrun\'s nor the debug console\'s', () => {
    expect(checkCliResult(kase(), result({ stderr: 'A\n' + textCrash.replace('0xe9 1', '0xe9 2') }))).toEqual(['a line on stderr is neither vmrun\'s nor the debug console\'s: "A"']);
  });

  it('reports vmrun\'s line glued to an unfinished line of the guest', () => {
    expect(checkCliResult(kase(), result({ stderr: 'debugcon: A' + textCrash })).filter((f) => f.includes('does not start a line'))).toEqual(['the stop line does not start a line: it follows the guest\'s unfinished debug-console line']);
    expect(checkCliResult(kase({ json: true }), result({ stderr: 'debugcon: A' + json({ exits: { byPort: { '0xe9': 1 } } }) })).filter((f) => f.includes('does not start a line'))).toEqual(['the JSON object does not start a line: it follows the guest\'s unfinished debug-console line']);
  });
});
