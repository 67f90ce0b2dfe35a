// A core instance of the long run: the compiled core in `dir` (dist/fuzz/<name>, see
// tools/fuzz.mjs), imported under the environment of its kind (CORE_ENV). Each folder is a module
// graph of its own, so each instance keeps the compiler settings it was loaded with.
import { pathToFileURL } from 'node:url';
import { CORE_ENV, type Core } from './inproc.js';

export async function loadCoreFrom(name: string, dir: string): Promise<Core> {
  const env = CORE_ENV[name];
  if (env === undefined) throw new Error(`no core instance named ${name}`);
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const { Vm } = await import(pathToFileURL(`${dir}/src/hv/vm.js`).href);
  const { cpuidForModel } = await import(pathToFileURL(`${dir}/src/hv/cpu-models.js`).href);
  return { name, Vm, cpuidForModel };
}
