#!/usr/bin/env node
// Is dist/ up to date? Exit status 0 when it is, 1 (with the reason on stdout) when it is not.
// `npm install` and `npx vmrun` run the `prepare` script, which is
// `node tools/up-to-date.mjs || npm run build`: a full build (tsc, the bundle, its code cache)
// takes several seconds, this check about 50 ms.
//
// Up to date means: every src/**/*.ts has its dist/**/*.js, none older than its source or than
// tsconfig.json, package.json or tools/bundle.mjs; dist/vmrun-bundle.js is not older than any of
// them (bin/vmrun.js would not use it otherwise); dist/vmrun-bundle.cache is not older than the
// bundle nor than images/guests/hello.bin (the run it was taken after), names the bundle's id,
// and this Node's V8 accepts it (a cache made by another Node is rejected, and start-up would
// compile the whole bundle). A bundle that tools/bundle.mjs declined to write (it then says
// why, and bin/vmrun.js loads the modules) is not a reason to rebuild.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rel = (p) => path.relative(root, p);

/** Why dist/ must be rebuilt, or null. */
export function staleness() {
  const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : NaN);
  const config = ['tsconfig.json', 'package.json', 'tools/bundle.mjs'].map((p) => path.join(root, p));
  const configTime = Math.max(...config.map(mtime));
  let newestJs = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        const why = walk(p);
        if (why !== null) return why;
        continue;
      }
      if (!entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
      const js = path.join(root, 'dist', path.relative(path.join(root, 'src'), p)).replace(/\.ts$/, '.js');
      const t = mtime(js);
      if (Number.isNaN(t)) return `${rel(js)} is missing`;
      if (t < mtime(p)) return `${rel(p)} is newer than ${rel(js)}`;
      if (t < configTime) return `${rel(js)} is older than ${config.map(rel).join(', ')}`;
      newestJs = Math.max(newestJs, t);
    }
    return null;
  };
  const why = walk(path.join(root, 'src'));
  if (why !== null) return why;

  const bundle = path.join(root, 'dist/vmrun-bundle.js');
  const cache = path.join(root, 'dist/vmrun-bundle.cache');
  if (!existsSync(bundle)) {
    // tools/bundle.mjs declines to bundle what it does not understand and removes the bundle;
    // bin/vmrun.js then runs the modules. Rebuild only if it never ran since tsc.
    return existsSync(cache) ? null : `${rel(bundle)} is missing`;
  }
  const bundleTime = mtime(bundle);
  if (bundleTime < newestJs || bundleTime < configTime) return `${rel(bundle)} is older than the tsc output`;
  if (!existsSync(cache)) return `${rel(cache)} is missing`;
  if (mtime(cache) < bundleTime || mtime(cache) < mtime(path.join(root, 'images/guests/hello.bin'))) {
    return `${rel(cache)} is older than the bundle or images/guests/hello.bin`;
  }
  const code = readFileSync(bundle, 'latin1');
  const id = /^\/\/ vmrun-bundle (\w+)\n/.exec(code)?.[1];
  const data = readFileSync(cache);
  if (id === undefined || data.toString('latin1', 0, id.length + 1) !== `${id}\n`) return `${rel(cache)} was made for another bundle`;
  const script = new Script(code, { filename: bundle, cachedData: data.subarray(id.length + 1) });
  if (script.cachedDataRejected) return `${rel(cache)} was made by another Node (${process.version} rejects it)`;
  return null;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const why = staleness();
  if (why === null) {
    console.log('up-to-date: dist/ is up to date; not rebuilding (npm run build rebuilds)');
  } else {
    console.log(`up-to-date: rebuilding: ${why}`);
    process.exitCode = 1;
  }
}
