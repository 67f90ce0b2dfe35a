// A run of the in-process differential fuzzer: cases generated from a seed, each run on the
// interpreter and on the compiled instance(s), compared; figures kept; failing cases shrunk and
// handed to the caller. Used by the smoke test (inproc.test.ts) and the long run (tools/fuzz.mjs).

import { caseToJson, generateCase, type FuzzCase, type Mode } from './cases.js';
import { compare, Runner, selfFinding, type Outcome } from './inproc.js';

export interface InprocOptions {
  seed: number;
  /** Case indices [first, first + cases). */
  first?: number;
  cases: number;
  /** Stop early after this much wall time (ms). */
  timeLimitMs?: number;
  /** Per-case wall-clock bound, checked between run() calls (ms). */
  watchdogMs?: number;
  /** Only these modes (default: all, weighted). */
  mode?: Mode;
  /** Called before each case (the long run's supervisor watches it for hangs). */
  onCase?(index: number): void;
  /** Called at each step of shrinking a failure (so a supervisor sees progress). */
  onTick?(): void;
  onFailure?(f: InprocFailure): void;
  /** Called every `progressEvery` cases with the figures so far. */
  onProgress?(stats: InprocStats): void;
  progressEvery?: number;
}

export interface InprocFailure {
  /** The case as generated, and shrunk (fewer instructions, memory overlays, still failing). */
  original: FuzzCase;
  shrunk: FuzzCase;
  /** Which instance disagreed with the interpreter (or had a finding of its own). */
  core: string;
  /**
   * Whether the case fails on its own, on instances that ran nothing before it. When it does
   * not, it depends on state the earlier cases left (and it is not shrunk).
   */
  standalone: boolean;
  /** What differed, or the finding. */
  what: string[];
}

export interface InprocStats {
  cases: number;
  byMode: Record<string, number>;
  /** How the interpreter's runs ended. */
  ends: Record<string, number>;
  /** InternalError reasons (numbers folded), from the interpreter's runs. */
  internalErrors: Record<string, number>;
  instructions: number;
  exits: number;
  failures: number;
  worstCaseMs: number;
  worstCaseId: string;
  /** Wall time spent in each instance's runs (ms). */
  msByCore: Record<string, number>;
  wallMs: number;
}

function bump(r: Record<string, number>, k: string, n = 1): void {
  r[k] = (r[k] ?? 0) + n;
}

/**
 * Run `c` on the interpreter and on each other instance; for each, the differences (and findings
 * of either run on its own), [] when they agree. Also the interpreter's outcome (for the figures).
 */
export function check(interp: Runner, others: Runner[], c: FuzzCase, watchdogMs: number, ms?: Record<string, number>): { what: string[][]; a: Outcome } {
  // An outcome's memory is its runner's own buffer: the interpreter's stays valid while the
  // others run.
  const a = interp.run(c, watchdogMs);
  if (ms !== undefined) bump(ms, interp.core.name, a.ms);
  const aSelf = selfFinding(a);
  const what = others.map((other) => {
    const b = other.run(c, watchdogMs);
    if (ms !== undefined) bump(ms, other.core.name, b.ms);
    const bSelf = selfFinding(b);
    return [...(aSelf !== null ? [`${interp.core.name}: ${aSelf}`] : []), ...(bSelf !== null ? [`${other.core.name}: ${bSelf}`] : []), ...compare(a, b)];
  });
  return { what, a };
}

/**
 * A smaller case that still fails: the least budget that shows it (binary search), then without
 * each memory overlay that is not needed.
 */
export function shrink(interp: Runner, other: Runner, c: FuzzCase, watchdogMs: number, tick?: () => void): FuzzCase {
  const fails = (x: FuzzCase): boolean => {
    tick?.();
    return check(interp, [other], x, watchdogMs).what[0].length > 0;
  };
  let best = c;
  let lo = 0, hi = c.budget;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fails({ ...best, budget: mid })) hi = mid;
    else lo = mid;
  }
  if (fails({ ...best, budget: hi })) best = { ...best, budget: hi };
  for (let k = best.mem.length - 1; k >= 0; k--) {
    const without = { ...best, mem: best.mem.filter((_, j) => j !== k) };
    if (fails(without)) best = without;
  }
  return best;
}

export function runInproc(interp: Runner, others: Runner[], opts: InprocOptions): InprocStats {
  const t0 = performance.now();
  const watchdogMs = opts.watchdogMs ?? 5000;
  const stats: InprocStats = {
    cases: 0, byMode: {}, ends: {}, internalErrors: {}, instructions: 0, exits: 0, failures: 0, worstCaseMs: 0, worstCaseId: '', msByCore: {}, wallMs: 0,
  };
  const first = opts.first ?? 0;
  for (let n = 0; n < opts.cases; n++) {
    if (opts.timeLimitMs !== undefined && performance.now() - t0 > opts.timeLimitMs) break;
    const index = first + n;
    opts.onCase?.(index);
    const c = generateCase(opts.seed, index, opts.mode);
    const tc = performance.now();
    const { what, a } = check(interp, others, c, watchdogMs, stats.msByCore);
    bump(stats.byMode, c.mode);
    bump(stats.ends, a.end);
    if (a.end === 'internal-error') bump(stats.internalErrors, a.error.replace(/0x[0-9a-f]+/g, '0x…'));
    stats.instructions += a.instructions;
    stats.exits += a.exits.length;
    others.forEach((other, k) => {
      if (what[k].length === 0) return;
      stats.failures++;
      // Verified and shrunk on fresh instances: the main ones go on in step (each has run the
      // same cases, so that state one case leaves is the same for all of them).
      const fi = new Runner(interp.core), fo = new Runner(other.core);
      const standalone = check(fi, [fo], c, watchdogMs).what[0].length > 0;
      // (A case that hit the watchdog is not shrunk: every step would take as long.)
      const slow = what[k].some((l) => l.includes('watchdog'));
      const shrunk = standalone && !slow ? shrink(fi, fo, c, watchdogMs, opts.onTick) : c;
      const again = standalone ? check(fi, [fo], shrunk, watchdogMs).what[0] : [];
      opts.onFailure?.({ original: c, shrunk, core: other.core.name, standalone, what: again.length > 0 ? again : what[k] });
    });
    const ms = performance.now() - tc;
    if (ms > stats.worstCaseMs) {
      stats.worstCaseMs = ms;
      stats.worstCaseId = c.id;
    }
    stats.cases++;
    if (opts.onProgress !== undefined && stats.cases % (opts.progressEvery ?? 1000) === 0) {
      stats.wallMs = performance.now() - t0;
      opts.onProgress(stats);
    }
  }
  stats.wallMs = performance.now() - t0;
  return stats;
}

/**
 * A reproducer file for a failure (test/fuzz/repro/ keeps some; inproc.test.ts replays them):
 * what differed, the instance, and the shrunk case. `status` 'open' marks a problem not fixed yet
 * (its replay is expected to fail).
 */
export function reproJson(f: InprocFailure, note: string, status: 'open' | 'fixed' = 'open'): string {
  return `{\n "note": ${JSON.stringify(note)},\n "status": "${status}",\n "core": "${f.core}",\n "what": ${JSON.stringify(f.what)},\n "case": ${caseToJson(f.shrunk)}\n}\n`;
}
