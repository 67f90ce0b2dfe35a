// The in-process fuzzer of the long run, in a worker thread (tools/fuzz.mjs starts long-run.js,
// which starts this): loads the core instances from their folders (one copy of the compiled
// core per instance, each imported under its own environment), runs its range of cases and
// reports to the supervisor, which watches the heartbeat for a run() that never returns.
import { parentPort, workerData } from 'node:worker_threads';
import type { Mode } from './cases.js';
import { loadCoreFrom } from './core-load.js';
import { Runner } from './inproc.js';
import { reproJson, runInproc } from './inproc-run.js';

export interface WorkerData {
  /** Folder of each instance's compiled core (containing src/hv/vm.js), by instance name. */
  coreDirs: Record<string, string>;
  instances: string[];
  seed: number;
  first: number;
  cases: number;
  timeLimitMs: number;
  watchdogMs: number;
  mode?: Mode;
  /**
   * [0]: the index of the case being run, [1]: 1 while running, [2]: steps of shrinking a
   * failure; shared with the supervisor.
   */
  heartbeat: SharedArrayBuffer;
}

export type WorkerMessage =
  | { type: 'failure'; file: string; json: string; id: string; core: string; what: string[]; standalone: boolean }
  | { type: 'progress'; stats: unknown }
  | { type: 'done'; stats: unknown };

const d = workerData as WorkerData;
const beat = new Int32Array(d.heartbeat);
const interp = new Runner(await loadCoreFrom('interpreter', d.coreDirs.interpreter));
const others: Runner[] = [];
for (const name of d.instances) others.push(new Runner(await loadCoreFrom(name, d.coreDirs[name])));
const stats = runInproc(interp, others, {
  seed: d.seed, first: d.first, cases: d.cases, timeLimitMs: d.timeLimitMs, watchdogMs: d.watchdogMs, mode: d.mode,
  onCase(index) {
    Atomics.store(beat, 0, index);
    Atomics.store(beat, 1, 1);
  },
  onTick() {
    Atomics.add(beat, 2, 1);
  },
  onFailure(f) {
    const id = f.original.id;
    const msg: WorkerMessage = {
      type: 'failure', id, core: f.core, what: f.what, standalone: f.standalone,
      file: `inproc-${id.replace(':', '-')}-${f.core}.json`,
      json: reproJson(f, `found by npm run fuzz, seed ${f.original.id.split(':')[0]} case ${f.original.id.split(':')[1]} (${f.original.mode})` +
        (f.standalone ? '' : '; does not fail on fresh instances: it depends on state the cases before it left')),
    };
    parentPort!.postMessage(msg);
  },
  progressEvery: 500,
  onProgress(s) {
    parentPort!.postMessage({ type: 'progress', stats: s } satisfies WorkerMessage);
  },
});
Atomics.store(beat, 1, 0);
parentPort!.postMessage({ type: 'done', stats } satisfies WorkerMessage);
