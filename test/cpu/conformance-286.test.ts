// Conformance against the SingleStepTests 80286 vectors (real mode, captured on a Harris 80C286),
// read from ../shared/conformance/singlestep-80286 when that folder exists. Each case runs through
// the hv API: registers and RAM from `initial`, run to the HLT after the instruction, compare with
// `final` (undefined flags masked with the suite's metadata).
//
// The core is an i686, not a 286. Where the two differ by design, a case is skipped or its
// expectation adjusted to what a 386+ does; the tables below give every such rule with its reason.
// Set CONF286_VERBOSE=1 to print the failing cases.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Adjust, type Case286, type Insn286, type Metadata286, type RegName, NO_ADJUST, Runner286, SEG_DS, SEG_ES, SEG_SS,
  decode286, hex, loadCases, loadMetadata, metaFor,
} from './harness.js';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/conformance/singlestep-80286');
const PRESENT = fs.existsSync(path.join(DIR, 'metadata.json'));
const VERBOSE = process.env.CONF286_VERBOSE !== undefined;

// ------------------------------------------------------------------------------------------------
// Whole opcodes that are not compared. Only D8 has a file in the suite as kept; the others are in
// its metadata (and would be skipped should their files appear).

const FILE_SKIPS: Array<[string, string]> = [
  ['0F xx', 'status "extension" (no files as kept): SGDT/SIDT store FF as the high base byte and SMSW reads the reserved MSW bits as 1 on a 286, 0 on a 386+; 0F 05 is the 286\'s undocumented LOADALL, which no 386+ has'],
  ['26 2E 36 3E', 'status "prefix": segment overrides are prefixes, not instructions (covered as prefixes in other files)'],
  ['F0 F2 F3', 'status "prefix": LOCK / REPNE / REP (covered as prefixes in other files)'],
  ['F1', 'status "prefix": a LOCK alias on the 286, ICEBP (INT 1) on a 386+'],
  ['64 65 66 67', 'status "undefined" on the 286; FS / GS / operand-size / address-size prefixes on a 386+'],
  ['D8-DF', 'status "fpu": the 286 under test had no 80287, so ESC only computed (and range-checked) its address; an i686 executes the x87 instruction'],
];

/** Status values that mark an opcode as not comparable (checked per file and per ModRM.reg). */
const SKIP_STATUS: Record<string, string> = {
  extension: 'status "extension" (see table)',
  prefix: 'status "prefix" (see table)',
  fpu: 'status "fpu" (see table)',
};

// ------------------------------------------------------------------------------------------------
// Per-case differences between the 286 and a 386+.

const CASE_RULES: Array<[string, string, string]> = [
  ['lock', 'skip', 'LOCK on an instruction that does not take it (or on a register destination): the 286 ignores the prefix, a 386+ raises #UD'],
  ['len>10', 'skip', 'instruction longer than 10 bytes (with prefixes): the 286 raises #GP, a 386+ accepts up to 15'],
  ['sreg4/5', 'skip', 'MOV to/from segment register 4 or 5: #UD on the 286, FS / GS on a 386+'],
  ['undefined', 'skip', 'a ModRM.reg form the suite marks "undefined" for which the 286 did not raise #UD (a 386+ does)'],
  ['#SS', 'adjust', 'a real-mode segment overrun in SS (word at SS:FFFF, stack wrap): the 286 raises interrupt 13 for every segment, a 386+ raises #SS (12); IVT[12] is set to IVT[13] so the handler and pushed frame can still be compared'],
  ['string', 'adjust', 'a word string instruction faulting at offset FFFF: the 286 has already stepped SI/DI (and CX with REP) when it raises #GP, a 386+ faults with the registers of the faulting iteration; the expected SI/DI/CX are stepped back'],
];
// Forms whose status is "undefined" in an opcode file (8F /1-7, C6 /1-7, C7 /1-7) are compared
// when the 286 raised #UD for them, as a 386+ does; otherwise they fall under the 'undefined' rule.

const STACK_OPS = new Set([
  0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x60, 0x61, 0x68, 0x6a, 0x8f, 0x9a, 0x9c, 0x9d,
  0xc2, 0xc3, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xe8,
]);
for (let k = 0x50; k < 0x60; k++) STACK_OPS.add(k);

const BYTE_OPERAND = new Set([
  0x00, 0x02, 0x08, 0x0a, 0x10, 0x12, 0x18, 0x1a, 0x20, 0x22, 0x28, 0x2a, 0x30, 0x32, 0x38, 0x3a,
  0x80, 0x82, 0x84, 0x86, 0x88, 0x8a, 0xc0, 0xc6, 0xd0, 0xd2, 0xf6, 0xfe,
]);

/** Instructions a 386+ accepts LOCK on, with a memory destination. */
function lockable(d: Insn286): boolean {
  if (d.modrm < 0 || d.mod === 3) return false;
  const op = d.op;
  if (op < 0x38 && (op & 7) < 2) return true; // ADD OR ADC SBB AND SUB XOR r/m, r
  if (op >= 0x80 && op <= 0x83) return d.reg !== 7; // not CMP
  if (op === 0x86 || op === 0x87) return true; // XCHG
  if (op === 0xf6 || op === 0xf7) return d.reg === 2 || d.reg === 3; // NOT NEG
  if (op === 0xfe || op === 0xff) return d.reg < 2; // INC DEC
  return false;
}

/** Word string instructions and the order of their index-register accesses on the 286. */
const STRING_ORDER: Record<number, Array<'si' | 'di'>> = {
  0xa5: ['si', 'di'], // MOVSW: read DS:SI, write ES:DI
  0xa7: ['di', 'si'], // CMPSW: the 286 reads ES:DI first
  0xad: ['si'], 0x6f: ['si'], // LODSW, OUTSW
  0xab: ['di'], 0xaf: ['di'], 0x6d: ['di'], // STOSW, SCASW, INSW
};

interface Plan {
  skip: string | null;
  rule: string | null;
  adjust: Adjust;
}

function plan(t: Case286, d: Insn286, status: string | undefined): Plan {
  const ini = t.initial.regs;
  if (status === 'undefined' && t.exception?.number !== 6) return { skip: 'undefined', rule: null, adjust: NO_ADJUST };
  if (d.lock && !lockable(d)) return { skip: 'lock', rule: null, adjust: NO_ADJUST };
  if (t.bytes.length - 1 > 10 && t.exception?.number === 13) return { skip: 'len>10', rule: null, adjust: NO_ADJUST };
  if ((d.op === 0x8c || d.op === 0x8e) && (d.reg === 4 || d.reg === 5)) return { skip: 'sreg4/5', rule: null, adjust: NO_ADJUST };
  if (t.exception?.number !== 13) return { skip: null, rule: null, adjust: NO_ADJUST };

  // A #GP(13) in real mode is a segment overrun: find the access that overran.
  const regs: Partial<Record<RegName, number>> = {};
  let seg = -1;
  let rule: string | null = null;
  const order = STRING_ORDER[d.op];
  if (order !== undefined) {
    // The 286 stepped each index register it had used in the faulting iteration (and its CX is
    // off by one or two): expect the registers that iteration started with instead.
    const fin = { ...ini, ...t.final.regs };
    const step = (ini.flags & 0x400) !== 0 ? -2 : 2;
    const first = order[0];
    const firstAt = (fin[first] - step) & 0xffff;
    regs[first] = firstAt;
    let faultReg = first;
    if (order.length > 1) {
      const second = order[1];
      if (firstAt !== 0xffff) {
        regs[second] = (fin[second] - step) & 0xffff;
        faultReg = second;
      }
    }
    if (d.rep) {
      const done = (((firstAt - ini[first]) * Math.sign(step)) & 0xffff) / 2;
      regs.cx = (ini.cx - done) & 0xffff;
    }
    seg = faultReg === 'di' ? SEG_ES : d.segOvr >= 0 ? d.segOvr : SEG_DS;
    rule = 'string';
  } else if (d.ea >= 0 && d.ea === 0xffff && !BYTE_OPERAND.has(d.op)) {
    seg = d.eaSeg;
  } else if (STACK_OPS.has(d.op) || (d.op === 0xff && (d.reg === 2 || d.reg === 3 || d.reg === 6))) {
    seg = SEG_SS;
  }
  if (seg === SEG_SS) rule = rule === null ? '#SS' : `${rule},#SS`;
  return { skip: null, rule, adjust: { vectorAlias: seg === SEG_SS ? [13, 12] : null, regs } };
}

// ------------------------------------------------------------------------------------------------

interface Row { file: string; passed: number; total: number; skipped: number; adjusted: number }
const rows: Row[] = [];
const skipCounts = new Map<string, number>();

function fileKeys(): string[] {
  if (!PRESENT) return [];
  return fs.readdirSync(DIR).filter((f) => f.endsWith('.jsonl.gz')).map((f) => f.slice(0, -'.jsonl.gz'.length)).sort();
}

function fileSkipReason(meta: Metadata286, key: string): string | null {
  const [op, reg] = key.split('.');
  const m = meta.opcodes[op];
  if (m === undefined) return null;
  const status = reg !== undefined && m.reg !== undefined ? m.reg[reg]?.status : m.status;
  return status !== undefined ? SKIP_STATUS[status] ?? null : null;
}

if (!PRESENT) {
  console.log(`conformance-286: ${DIR} is absent; skipping the SingleStepTests 80286 vectors`);
}

describe.skipIf(!PRESENT)('SingleStepTests 80286 (real mode)', () => {
  const meta = PRESENT ? loadMetadata(DIR) : { opcodes: {} };
  const runner = PRESENT ? new Runner286() : null;

  for (const key of fileKeys()) {
    const skipReason = fileSkipReason(meta, key);
    if (skipReason !== null) {
      it.skip(`${key}: ${skipReason}`, () => {});
      continue;
    }
    it(key, () => {
      const cases = loadCases(path.join(DIR, `${key}.jsonl.gz`));
      let passed = 0, skipped = 0, adjusted = 0;
      const failures: string[] = [];
      for (const t of cases) {
        const d = decode286(t.bytes, t.initial.regs);
        const m = metaFor(meta, key, d.reg);
        const p = plan(t, d, m.status);
        if (p.skip !== null) {
          skipped++;
          skipCounts.set(p.skip, (skipCounts.get(p.skip) ?? 0) + 1);
          continue;
        }
        if (p.rule !== null) adjusted++;
        const r = runner!.run(t, m['flags-mask'] ?? 0xffff, p.adjust);
        if (r.ok) passed++;
        else if (failures.length < 5) {
          failures.push(`  ${t.name} [${t.bytes.map(hex).join(' ')}]${p.rule ? ` (${p.rule})` : ''}: ${r.diffs.slice(0, 4).join('; ')}` +
            (VERBOSE ? `\n    ${JSON.stringify(t)}` : ''));
        }
      }
      const total = cases.length - skipped;
      rows.push({ file: key, passed, total, skipped, adjusted });
      if (failures.length > 0 && (VERBOSE || passed < total * 0.99)) console.log(`${key}: ${passed}/${total}\n${failures.join('\n')}`);
      expect(passed, `${key}: ${passed}/${total} passed`).toBeGreaterThanOrEqual(Math.ceil(total * 0.99));
    });
  }

  afterAll(() => {
    if (rows.length === 0) return;
    const lines: string[] = [];
    lines.push('SingleStepTests 80286: opcode  passed/total  (skipped, adjusted)');
    let p = 0, n = 0;
    for (const r of rows) {
      p += r.passed; n += r.total;
      const extra = r.skipped || r.adjusted ? `  (${r.skipped} skipped, ${r.adjusted} adjusted)` : '';
      lines.push(`  ${r.file.padEnd(6)} ${String(r.passed).padStart(4)}/${String(r.total).padEnd(4)}${extra}`);
    }
    lines.push(`  total  ${p}/${n} (${((100 * p) / Math.max(n, 1)).toFixed(2)} %)`);
    lines.push('Skipped opcodes:');
    for (const [ops, why] of FILE_SKIPS) lines.push(`  ${ops.padEnd(12)} ${why}`);
    lines.push('Per-case rules (cases affected):');
    for (const [name, kind, why] of CASE_RULES) {
      const count = kind === 'skip' ? ` ${skipCounts.get(name) ?? 0}` : '';
      lines.push(`  ${name.padEnd(9)} ${kind}${count}: ${why}`);
    }
    console.log(lines.join('\n'));
  });
});
