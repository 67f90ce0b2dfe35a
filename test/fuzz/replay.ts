// `npm run fuzz -- --replay FILE...`: a reproducer (test/fuzz/repro/*.json, or one the long run
// wrote) run again on the interpreter and each compiled instance, with what a person needs to
// see why they differ: the initial state, the code at CS:EIP (disassembled by objdump when it is
// installed), each instance's exits and final registers, and the differences.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { background, caseFromJson, type FuzzCase } from './cases.js';
import { compare, Runner } from './inproc.js';

function codeAt(c: FuzzCase, lin: number, n: number): Uint8Array {
  const bytes = background(c.bg).slice(lin, lin + n);
  for (const [addr, m] of c.mem) {
    const data = typeof m === 'string' ? Buffer.from(m, 'hex') : m;
    for (let k = 0; k < data.length; k++) {
      const a = addr + k - lin;
      if (a >= 0 && a < n) bytes[a] = data[k];
    }
  }
  return bytes;
}

function disassemble(bytes: Uint8Array, at: number, code32: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmrun-replay-'));
  try {
    const f = join(dir, 'code.bin');
    writeFileSync(f, bytes);
    const out = execFileSync('objdump', ['-D', '-b', 'binary', `-m${code32 ? 'i386' : 'i8086'}`, `--adjust-vma=0x${at.toString(16)}`, f], { encoding: 'utf8' });
    return out.split('\n').filter((l) => /^\s+[0-9a-f]+:/.test(l)).slice(0, 40).join('\n');
  } catch {
    return `(no objdump) ${Buffer.from(bytes).toString('hex')}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function replay(files: string[], runners: Runner[]): number {
  let failing = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const parsed = JSON.parse(text) as { case?: unknown; note?: string };
    const c = caseFromJson(JSON.stringify(parsed.case ?? parsed));
    console.log(`== ${file}${parsed.note !== undefined ? `: ${parsed.note}` : ''}`);
    console.log(`case ${c.id}, ${c.mode}, cpu ${c.cpu}, budget ${c.budget}, a20 ${c.a20}`);
    console.log(`regs ${JSON.stringify(c.regs)}`);
    const s = c.sregs;
    console.log(`cs ${JSON.stringify(s.cs)}\nss ${JSON.stringify(s.ss)} ds.base ${s.ds.base.toString(16)}\ncr0 ${s.cr0.toString(16)} cr4 ${s.cr4.toString(16)} efer ${s.efer.toString(16)}`);
    const lin = (s.cs.base + c.regs.eip) >>> 0;
    console.log(disassemble(codeAt(c, lin, 96), lin, s.cs.db));
    const outcomes = runners.map((r) => ({ name: r.core.name, o: r.run(c, 10_000), mem: new Uint8Array(0) }));
    for (const x of outcomes) x.mem = x.o.memory.slice();
    for (const x of outcomes) {
      console.log(`-- ${x.name}: ${x.o.end}${x.o.error !== '' ? ` (${x.o.error})` : ''}, ${x.o.instructions} instructions`);
      for (const e of x.o.exits.slice(0, 30)) console.log(`   ${e}`);
      console.log(`   regs ${JSON.stringify(x.o.regs)}`);
    }
    for (const x of outcomes.slice(1)) {
      const d = compare({ ...outcomes[0].o, memory: outcomes[0].mem }, { ...x.o, memory: x.mem });
      console.log(d.length === 0 ? `${x.name}: agrees` : `${x.name} differs:\n  ${d.join('\n  ')}`);
      if (d.length > 0) failing++;
    }
  }
  return failing;
}
