#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node --v8-pool-size=1
// (One V8 worker thread instead of four: on a 2-core machine the background compiler and GC
// threads otherwise take CPU from the thread that runs the guest; measured on the bundled Linux
// boot, 0.55–0.72 s against 0.60–0.83 s. NODE_EXTRA_CA_CERTS is dropped because Node 20 reads and
// parses those certificates before running any JavaScript — about 40 ms for a system bundle — and
// vmrun makes no TLS connection and starts no other program.)
// The vmrun command. It runs dist/vmrun-bundle.js, the whole monitor in one script (written from
// the tsc output by tools/bundle.mjs as part of `npm run build`), compiled from the V8 code cache
// next to it: that starts about 30 ms sooner than loading the ~40 modules tsc writes. It loads
// those instead (dist/cli/main.js) when the bundle is missing or older than them (tsc was run
// alone since), or with VMRUN_BUNDLE=0. A code cache made for another bundle or another Node is
// not used (the bundle is then compiled from source).
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

/** The bundle's exports, or null when the modules should be loaded instead. */
function loadBundle() {
  if (process.env.VMRUN_BUNDLE === '0') return null;
  const file = new URL('../dist/vmrun-bundle.js', import.meta.url);
  let code;
  try {
    if (statSync(file).mtimeMs < statSync(new URL('../dist/cli/main.js', import.meta.url)).mtimeMs) return null;
    code = readFileSync(file, 'latin1'); // the bundle is ASCII
  } catch {
    return null;
  }
  let cachedData;
  try {
    const cache = readFileSync(new URL('../dist/vmrun-bundle.cache', import.meta.url));
    const id = /^\/\/ vmrun-bundle (\w+)\n/.exec(code)?.[1];
    if (id !== undefined && cache.toString('latin1', 0, id.length + 1) === `${id}\n`) cachedData = cache.subarray(id.length + 1);
  } catch {
    // no code cache: compile from source
  }
  const script = new Script(code, { filename: fileURLToPath(file), cachedData });
  return script.runInThisContext()(createRequire(file), (spec) => import(spec), file.href);
}

const { main } = loadBundle() ?? (await import('../dist/cli/main.js'));

main(process.argv).then((code) => {
  process.exitCode = code;
});
