// The in-process differential fuzzer, bounded for `npm test`: a fixed seed and a fixed number of
// random cases (every mode: real, 16- and 32-bit protected with and without paging, PAE, ring 3,
// virtual-8086), each run on the interpreter, with every block compiled and with multi-block
// regions, which must agree on everything the hv API shows (see inproc.ts). Then the kept
// reproducers of test/fuzz/repro/*.json. `npm run fuzz` runs the same harness for as long as
// asked (tools/fuzz.mjs).
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { caseFromJson, MODES } from './cases.js';
import { loadCore } from './cores.js';
import { compare, Runner, selfFinding } from './inproc.js';
import { runInproc, type InprocFailure } from './inproc-run.js';

const SEED = 20240601;
const CASES = 100;

const interp = new Runner(await loadCore('interpreter'));
const compiled = new Runner(await loadCore('compiled'));
const regions = new Runner(await loadCore('regions'));

describe('in-process differential fuzzing (smoke)', () => {
  it(`${CASES} random cases of seed ${SEED}: the interpreter and compiled code agree`, () => {
    const failures: InprocFailure[] = [];
    const stats = runInproc(interp, [compiled, regions], { seed: SEED, cases: CASES, watchdogMs: 10_000, onFailure: (f) => failures.push(f) });
    const report = failures.map((f) => `case ${f.original.id} (${f.original.mode}, ${f.core}, shrunk to budget ${f.shrunk.budget}):\n  ${f.what.join('\n  ')}`);
    expect(report).toEqual([]);
    expect(stats.cases).toBe(CASES);
    // The cases exercise every mode and run real code (not just faults at the first byte).
    expect(Object.keys(stats.byMode).sort()).toEqual([...MODES].sort());
    expect(stats.instructions).toBeGreaterThan(CASES * 100);
  });
});

interface Repro {
  /** What the case shows, and whether the core still has the problem ('fails'). */
  note: string;
  status: 'fixed' | 'open';
  core: 'compiled' | 'regions';
  case: unknown;
}

const REPRO_DIR = new URL('./repro/', import.meta.url);
const repros = readdirSync(REPRO_DIR).filter((f) => f.endsWith('.json')).sort();

describe.each(repros)('reproducer %s', (file) => {
  const r = JSON.parse(readFileSync(new URL(file, REPRO_DIR), 'utf8')) as Repro;
  const c = caseFromJson(JSON.stringify(r.case));
  const run = (): string[] => {
    const other = r.core === 'regions' ? regions : compiled;
    const a = interp.run(c, 10_000);
    const sa = selfFinding(a);
    const b = other.run(c, 10_000);
    return [...(sa !== null ? [sa] : []), ...compare(a, b)];
  };
  (r.status === 'open' ? it.fails : it)(r.note, () => {
    expect(run()).toEqual([]);
  });
});
