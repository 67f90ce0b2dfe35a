// `npm run fuzz`: the long run of both fuzzers (tools/fuzz.mjs builds this and starts it).
//
//   --seed N            seed of both fuzzers (default: from the clock, printed)
//   --inproc N          random instruction streams through the in-process harness (default 1000000)
//   --cli N             image mutants and random streams through the CLI (default 10000)
//   --time SEC          stop both after this many seconds (default 3600)
//   --out DIR           where failures are written (default dist/fuzz/failures)
//   --instances LIST    instances compared with the interpreter (default compiled,regions)
//   --mode MODE         only this mode of the in-process fuzzer (real, pm16, pm32, ...)
//   --first N           first case index (both fuzzers; to resume or shard a seed)
//   --progress SEC      print figures this often (default 60)
//   --replay FILE...    run reproducers (JSON) again on every instance and show why they differ
//
// The in-process fuzzer runs in a worker thread whose heartbeat the main thread watches: a case
// that has not finished after --hang seconds (default 120; the harness's own watchdog checks the
// wall clock only between run() calls) is reported as a hang, the worker is ended and started
// again after it. The CLI fuzzer runs in the main thread, one vmrun process at a time, so the
// two use one core each.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { caseToJson, generateCase, type Mode } from './cases.js';
import { checkCliResult, generateCliCase, runCliCase, workDir, type CliCase, type CliResult } from './cli-fuzz.js';
import type { InprocStats } from './inproc-run.js';
import type { WorkerData, WorkerMessage } from './inproc-worker.js';
import { loadCoreFrom } from './core-load.js';
import { Runner } from './inproc.js';
import { replay } from './replay.js';

interface Options {
  seed: number;
  inproc: number;
  cli: number;
  timeS: number;
  out: string;
  instances: string[];
  mode?: Mode;
  first: number;
  progressS: number;
  hangS: number;
  root: string;
  coreDirs: Record<string, string>;
  replay: string[];
}

function parse(argv: string[]): Options {
  const o: Options = {
    seed: Date.now() % 1_000_000_007, inproc: 1_000_000, cli: 10_000, timeS: 3600, out: '', instances: ['compiled', 'regions'],
    first: 0, progressS: 60, hangS: 120, root: '', coreDirs: {}, replay: [],
  };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k], v = argv[k + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${a} wants a number, not ${String(v)}`);
      k++;
      return n;
    };
    switch (a) {
      case '--seed': o.seed = num(); break;
      case '--inproc': o.inproc = num(); break;
      case '--cli': o.cli = num(); break;
      case '--time': o.timeS = num(); break;
      case '--first': o.first = num(); break;
      case '--progress': o.progressS = num(); break;
      case '--hang': o.hangS = num(); break;
      case '--out': o.out = v; k++; break;
      case '--instances': o.instances = v.split(','); k++; break;
      case '--mode': o.mode = v as Mode; k++; break;
      case '--root': o.root = v; k++; break;
      case '--replay':
        o.replay = argv.slice(k + 1);
        k = argv.length;
        break;
      case '--core': { // --core name=dir (from tools/fuzz.mjs)
        const [name, dir] = v.split('=');
        o.coreDirs[name] = dir;
        k++;
        break;
      }
      default: throw new Error(`unknown option ${a} (see the top of test/fuzz/long-run.ts)`);
    }
  }
  if (o.root === '') o.root = fileURLToPath(new URL('../../../../../', import.meta.url));
  if (o.out === '') o.out = join(o.root, 'dist/fuzz/failures');
  o.out = resolve(o.out);
  for (const name of ['interpreter', ...o.instances]) if (o.coreDirs[name] === undefined) throw new Error(`no --core ${name}=DIR`);
  return o;
}

function bump(r: Record<string, number>, k: string, n = 1): void {
  r[k] = (r[k] ?? 0) + n;
}

const table = (r: Record<string, number>): string => Object.entries(r).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || '-';

/** Kinds of CLI findings (the first words of a check's message), for the figures and the cap on files. */
function category(v: string, r: CliResult, c: CliCase): string {
  if (v.startsWith('hang')) return 'killed at timeout + 5 s';
  if (v.startsWith('wall time')) return r.cpuMs <= c.timeoutS * 1000 + 500 ? 'timeout overrun (host busy)' : 'timeout overrun';
  if (v.startsWith('peak RSS')) return 'rss';
  if (v.includes('exception')) return 'exception';
  if (v.startsWith('exit status') || v.includes('status')) return 'status';
  if (v.includes('does not start a line')) return 'glued line';
  return 'stderr format';
}

const MAX_FILES_PER_CATEGORY = 25;

class CliStats {
  cases = 0;
  byKind: Record<string, number> = {};
  byStatus: Record<string, number> = {};
  byStop: Record<string, number> = {};
  findings: Record<string, number> = {};
  failures = 0;
  worstOverrunMs = -Infinity;
  worstOverrunId = '';
  worstRssKiB = 0;
  worstRssId = '';
  wallMs = 0;
}

async function cliLoop(o: Options, deadline: number, stats: CliStats, files: string[]): Promise<void> {
  const work = workDir();
  const written: Record<string, number> = {};
  const t0 = performance.now();
  for (let n = 0; n < o.cli && performance.now() < deadline; n++) {
    const c: CliCase = generateCliCase(o.root, o.seed, o.first + n);
    const r: CliResult = await runCliCase(o.root, c, work);
    const v = checkCliResult(c, r);
    stats.cases++;
    bump(stats.byKind, c.kind);
    bump(stats.byStatus, String(r.hung ? 'killed' : r.status));
    bump(stats.byStop, r.stop);
    const over = r.wallMs - c.timeoutS * 1000;
    if (over > stats.worstOverrunMs) { stats.worstOverrunMs = over; stats.worstOverrunId = c.id; }
    if (r.rssKiB > stats.worstRssKiB) { stats.worstRssKiB = r.rssKiB; stats.worstRssId = c.id; }
    if (v.length === 0) continue;
    stats.failures++;
    const cats = [...new Set(v.map((x) => category(x, r, c)))];
    for (const k of cats) bump(stats.findings, k);
    if (cats.every((k) => (written[k] ?? 0) >= MAX_FILES_PER_CATEGORY)) continue;
    for (const k of cats) bump(written, k);
    const base = join(o.out, `cli-${c.id.replace(':', '-')}`);
    writeFileSync(`${base}.bin`, c.image);
    writeFileSync(`${base}.json`, JSON.stringify({
      id: c.id, kind: c.kind, base: c.base, mutations: c.mutations, findings: v,
      command: `node bin/vmrun.js --kernel ${base}.bin ${c.args.join(' ')}`,
      status: r.status, wallMs: Math.round(r.wallMs), cpuMs: Math.round(r.cpuMs), rssKiB: r.rssKiB, stderr: r.stderr.slice(0, 4000),
    }, null, 1) + '\n');
    files.push(`${base}.json: ${cats.join(', ')}`);
  }
  stats.wallMs = performance.now() - t0;
}

interface InprocTotals {
  /** The figures of each worker that ended, and the latest of the one running. */
  stats: InprocStats[];
  current: InprocStats | null;
  hangs: string[];
  failures: string[];
}

function merge(all: InprocStats[]): InprocStats {
  const m: InprocStats = { cases: 0, byMode: {}, ends: {}, internalErrors: {}, instructions: 0, exits: 0, failures: 0, worstCaseMs: 0, worstCaseId: '', msByCore: {}, wallMs: 0 };
  for (const s of all) {
    m.cases += s.cases; m.instructions += s.instructions; m.exits += s.exits; m.failures += s.failures; m.wallMs += s.wallMs;
    for (const [k, v] of Object.entries(s.byMode)) bump(m.byMode, k, v);
    for (const [k, v] of Object.entries(s.ends)) bump(m.ends, k, v);
    for (const [k, v] of Object.entries(s.internalErrors)) bump(m.internalErrors, k, v);
    for (const [k, v] of Object.entries(s.msByCore)) bump(m.msByCore, k, v);
    if (s.worstCaseMs > m.worstCaseMs) { m.worstCaseMs = s.worstCaseMs; m.worstCaseId = s.worstCaseId; }
  }
  return m;
}

/** Run the in-process fuzzer in workers, one after another, restarting after a hang. */
async function inprocLoop(o: Options, deadline: number, totals: InprocTotals): Promise<void> {
  let next = o.first;
  const end = o.first + o.inproc;
  const workerFile = new URL('./inproc-worker.js', import.meta.url);
  while (next < end && performance.now() < deadline) {
    const heartbeat = new SharedArrayBuffer(12);
    const beat = new Int32Array(heartbeat);
    Atomics.store(beat, 0, next);
    const data: WorkerData = {
      coreDirs: o.coreDirs, instances: o.instances, seed: o.seed, first: next, cases: end - next,
      timeLimitMs: deadline - performance.now(), watchdogMs: 5000, mode: o.mode, heartbeat,
    };
    const w = new Worker(workerFile, { workerData: data });
    const result = await new Promise<{ done: boolean; hangAt: number; error?: boolean }>((resolveRun) => {
      let last = next, lastTick = 0, since = performance.now();
      const timer = setInterval(() => {
        const at = Atomics.load(beat, 0), tick = Atomics.load(beat, 2);
        if (at !== last || tick !== lastTick) { last = at; lastTick = tick; since = performance.now(); return; }
        if (Atomics.load(beat, 1) === 1 && performance.now() - since > o.hangS * 1000) {
          clearInterval(timer);
          void w.terminate();
          resolveRun({ done: false, hangAt: at });
        }
      }, 1000);
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'failure') {
          const file = join(o.out, m.file);
          writeFileSync(file, m.json);
          totals.failures.push(`${file}: ${m.core}: ${m.what[0] ?? ''}${m.standalone ? '' : ' (not on fresh instances)'}`);
        } else if (m.type === 'progress') {
          totals.current = m.stats as InprocStats;
        } else {
          totals.current = null;
          totals.stats.push(m.stats as InprocStats);
          clearInterval(timer);
          resolveRun({ done: true, hangAt: -1 });
        }
      });
      // An exception in the harness itself: reported with its case, and the run goes on after it.
      w.on('error', (e) => {
        clearInterval(timer);
        const at = Atomics.load(beat, 0);
        totals.failures.push(`harness error at case ${o.seed}:${at}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        resolveRun({ done: false, hangAt: at, error: true });
      });
    });
    if (totals.current !== null) totals.stats.push(totals.current); // (a hang: the figures up to the last progress message)
    totals.current = null;
    if (result.done) break;
    if (result.error === true) {
      next = result.hangAt + 1;
      continue;
    }
    const c = generateCase(o.seed, result.hangAt, o.mode);
    const file = join(o.out, `inproc-hang-${c.id.replace(':', '-')}.json`);
    writeFileSync(file, `{\n "note": "no answer for ${o.hangS} s (npm run fuzz, seed ${o.seed})",\n "status": "open",\n "core": "compiled",\n "what": ["hang"],\n "case": ${caseToJson(c)}\n}\n`);
    totals.hangs.push(file);
    next = result.hangAt + 1;
  }
}

function report(o: Options, t0: number, inp: InprocTotals, cli: CliStats, cliFiles: string[]): void {
  const s = merge(inp.current === null ? inp.stats : [...inp.stats, inp.current]);
  const min = ((performance.now() - t0) / 60000).toFixed(1);
  console.log(`\n== vmrun fuzz, seed ${o.seed}, ${min} min ==`);
  console.log(`in-process: ${s.cases} cases (${table(s.byMode)})`);
  console.log(`  instances compared with the interpreter: ${o.instances.join(', ')}`);
  console.log(`  ended by: ${table(s.ends)}`);
  console.log(`  ${s.instructions} instructions, ${s.exits} exits; wall ms by instance: ${table(Object.fromEntries(Object.entries(s.msByCore).map(([k, v]) => [k, Math.round(v)])))}`);
  console.log(`  slowest case ${s.worstCaseMs.toFixed(0)} ms (${s.worstCaseId}); hangs ${inp.hangs.length}`);
  console.log(`  internal errors: ${table(Object.fromEntries(Object.entries(s.internalErrors).slice(0, 12)))}`);
  console.log(`  failures: ${s.failures}${inp.failures.length > 0 ? '\n    ' + inp.failures.slice(0, 40).join('\n    ') : ''}${inp.hangs.length > 0 ? '\n    ' + inp.hangs.join('\n    ') : ''}`);
  console.log(`CLI: ${cli.cases} runs (${table(cli.byKind)})`);
  console.log(`  exit status: ${table(cli.byStatus)}`);
  console.log(`  stop kind (--json runs; text: --stats runs): ${table(cli.byStop)}`);
  console.log(`  worst overrun of --timeout ${(cli.worstOverrunMs / 1000).toFixed(3)} s (${cli.worstOverrunId}); worst peak RSS ${(cli.worstRssKiB / 1024).toFixed(0)} MiB (${cli.worstRssId})`);
  console.log(`  runs with findings: ${cli.failures} (${table(cli.findings)})${cliFiles.length > 0 ? '\n    ' + cliFiles.slice(0, 60).join('\n    ') : ''}`);
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  if (o.replay.length > 0) {
    const runners: Runner[] = [];
    for (const name of ['interpreter', ...o.instances]) runners.push(new Runner(await loadCoreFrom(name, o.coreDirs[name])));
    return replay(o.replay.map((f) => resolve(f)), runners) > 0 ? 1 : 0;
  }
  mkdirSync(o.out, { recursive: true });
  console.log(`vmrun fuzz: seed ${o.seed}, up to ${o.inproc} in-process cases and ${o.cli} CLI runs, ${o.timeS} s; failures in ${o.out}`);
  const t0 = performance.now();
  const deadline = t0 + o.timeS * 1000;
  const inp: InprocTotals = { stats: [], current: null, hangs: [], failures: [] };
  const cli = new CliStats();
  const cliFiles: string[] = [];
  const progress = setInterval(() => {
    const s = merge(inp.current === null ? inp.stats : [...inp.stats, inp.current]);
    console.log(`[${((performance.now() - t0) / 1000).toFixed(0)} s] in-process: ${s.cases} cases, ${inp.failures.length} failures, ${inp.hangs.length} hangs; CLI: ${cli.cases} runs, ${cli.failures} with findings (${table(cli.findings)})`);
  }, o.progressS * 1000);
  await Promise.all([o.inproc > 0 ? inprocLoop(o, deadline, inp) : Promise.resolve(), o.cli > 0 ? cliLoop(o, deadline, cli, cliFiles) : Promise.resolve()]);
  clearInterval(progress);
  report(o, t0, inp, cli, cliFiles);
  return inp.failures.length + inp.hangs.length + cli.failures > 0 ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  console.error(`fuzz: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 2;
});
