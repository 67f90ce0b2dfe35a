// `prepare` (run by npm install and by npx) rebuilds only what is out of date: tools/up-to-date.mjs
// decides, on a copy of the tree so that its mtimes can be moved. Needs dist/ (npm test builds).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
let copy = '';

function check(): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(copy, 'tools/up-to-date.mjs')], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout.trim() };
}

/** Set a file's mtime `seconds` after the newest output, making it newer than the build. */
function touchLater(rel: string, seconds = 10): void {
  const t = new Date(Date.now() + seconds * 1000);
  utimesSync(join(copy, rel), t, t);
}

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'vmrun-prepare-'));
  for (const p of ['src', 'dist', 'tools', 'tsconfig.json', 'package.json', 'images/guests/hello.bin']) {
    cpSync(join(root, p), join(copy, p), { recursive: true, preserveTimestamps: true });
  }
});

afterAll(() => {
  if (copy !== '') rmSync(copy, { recursive: true, force: true });
});

describe('tools/up-to-date.mjs (the prepare script\'s check)', () => {
  it('package.json\'s prepare runs the full build only when the check fails', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.prepare).toBe('node tools/up-to-date.mjs || npm run build');
  });

  it('says a fresh build is up to date, quickly', () => {
    if (!existsSync(join(root, 'dist/vmrun-bundle.cache'))) return; // no build to look at
    const started = performance.now();
    const r = check();
    expect(r).toEqual({ status: 0, out: 'up-to-date: dist/ is up to date; not rebuilding (npm run build rebuilds)' });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it.each([
    ['src/cli/main.ts', /^up-to-date: rebuilding: src\/cli\/main\.ts is newer than dist\/cli\/main\.js$/],
    ['tsconfig.json', /^up-to-date: rebuilding: dist\/.*\.js is older than tsconfig\.json, package\.json, tools\/bundle\.mjs$/],
    ['tools/bundle.mjs', /is older than tsconfig\.json, package\.json, tools\/bundle\.mjs$/],
    ['images/guests/hello.bin', /^up-to-date: rebuilding: dist\/vmrun-bundle\.cache is older than the bundle or images\/guests\/hello\.bin$/],
  ])('a newer %s makes it rebuild', (file, message) => {
    if (!existsSync(join(root, 'dist/vmrun-bundle.cache'))) return;
    const original = readFileSync(join(copy, file));
    try {
      touchLater(file);
      const r = check();
      expect(r.status).toBe(1);
      expect(r.out).toMatch(message);
    } finally {
      writeFileSync(join(copy, file), original);
      const t = new Date(0);
      utimesSync(join(copy, file), t, t); // older than everything again
    }
    expect(check().status).toBe(0);
  });

  it('a missing output, a bundle older than tsc\'s output and a cache for another bundle make it rebuild', () => {
    if (!existsSync(join(root, 'dist/vmrun-bundle.cache'))) return;
    const js = join(copy, 'dist/cli/options.js');
    const saved = readFileSync(js);
    const { atime, mtime } = statSync(js);
    rmSync(js);
    expect(check().out).toBe('up-to-date: rebuilding: dist/cli/options.js is missing');
    writeFileSync(js, saved);
    touchLater('dist/cli/options.js');
    expect(check().out).toBe('up-to-date: rebuilding: dist/vmrun-bundle.js is older than the tsc output');
    utimesSync(js, atime, mtime);
    expect(check().status).toBe(0);
    const cache = join(copy, 'dist/vmrun-bundle.cache');
    const data = readFileSync(cache);
    writeFileSync(cache, Buffer.concat([Buffer.from('0000000000\n'), data.subarray(data.indexOf(10) + 1)]));
    touchLater('dist/vmrun-bundle.cache', 20);
    expect(check().out).toBe('up-to-date: rebuilding: dist/vmrun-bundle.cache was made for another bundle');
    const id = data.subarray(0, data.indexOf(10) + 1);
    writeFileSync(cache, Buffer.concat([id, Buffer.from('not a V8 code cache')]));
    touchLater('dist/vmrun-bundle.cache', 20);
    expect(check().out).toMatch(/^up-to-date: rebuilding: dist\/vmrun-bundle\.cache was made by another Node/);
    writeFileSync(cache, data);
    touchLater('dist/vmrun-bundle.cache', 20);
    expect(check().status).toBe(0);
  });
});
