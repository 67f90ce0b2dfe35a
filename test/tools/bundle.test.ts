// tools/bundle.mjs, which joins the tsc output into the one file bin/vmrun.js loads: small module
// graphs with the cases that make joining modules hard, bundled and then run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain JavaScript build tool without type declarations
import { BundleError, bundle, compact, runBundle } from '../../tools/bundle.mjs';

type Bundled = { code: string; modules: number; renamed: number };
const run = bundle as (entry: string, out: string) => Bundled;
const execute = runBundle as (code: string, file: string) => { exports: Record<string, unknown> };

/** Write the files (path → text) into a fresh directory with a package.json of type module. */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmrun-bundle-'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Bundle main.js of the files and run the bundle as bin/vmrun.js does: its exports. */
async function bundleAndImport(files: Record<string, string>): Promise<{ mod: Record<string, unknown>; result: Bundled }> {
  const dir = project(files);
  const out = join(dir, 'out.js');
  const result = run(join(dir, 'main.js'), out);
  writeFileSync(out, result.code);
  return { mod: execute(result.code, out).exports, result };
}

describe('tools/bundle.mjs', () => {
  it('keeps same-named top-level declarations of different modules apart', async () => {
    const { mod, result } = await bundleAndImport({
      'main.js': "import { a } from './a.js';\nimport { b as bee } from './b.js';\nconst hex = (v) => 'main' + v;\nexport const out = [a(), bee(), hex(1)].join(' ');\n",
      'a.js': "const hex = (v) => 'a' + v;\nexport function a() { return hex(2); }\n",
      'b.js': "function hex(v) { return 'b' + v; }\nexport function b() { return hex(3); }\n",
    });
    expect(mod.out).toBe('a2 b3 main1');
    expect(result.modules).toBe(3);
    expect(result.renamed).toBe(2);
  });

  it('does not let an import take the name of a local that shadows it', async () => {
    const { mod } = await bundleAndImport({
      'main.js': "import { value as v } from './lib.js';\nexport function f() { const value = 10; return v() + value; }\nexport const out = f();\n",
      'lib.js': 'export function value() { return 1; }\n',
    });
    expect(mod.out).toBe(11);
  });

  it('resolves namespace imports, re-exports and shorthand properties', async () => {
    const { mod } = await bundleAndImport({
      'main.js': [
        "import * as ns from './lib.js';",
        "import { base, twice } from './index.js';",
        'const k = 1;',
        'export const out = { sum: ns.k + twice(base), k };',
      ].join('\n'),
      'lib.js': 'export const k = 5;\n',
      'index.js': "export * from './base.js';\nexport { twice } from './twice.js';\n",
      'base.js': 'export const base = 20;\n',
      'twice.js': 'const k = 2;\nexport function twice(x) { return k * x; }\n',
    });
    expect(mod.out).toEqual({ sum: 45, k: 1 });
  });

  it('keeps ES evaluation order, with hoisted functions across an import cycle', async () => {
    const { mod } = await bundleAndImport({
      'main.js': "import { log } from './log.js';\nimport { fromA } from './a.js';\nlog.push('main');\nexport const out = [...log, fromA];\n",
      'log.js': 'export const log = [];\n',
      'a.js': "import { log } from './log.js';\nimport { helper } from './b.js';\nlog.push('a');\nexport const fromA = helper();\nexport function early() { return 'early'; }\n",
      // b runs first and calls a function of a, which has not run yet: it works because function
      // declarations are hoisted across modules, as they are in the one file.
      'b.js': "import { log } from './log.js';\nimport { early } from './a.js';\nlog.push('b:' + early());\nexport function helper() { return 'helped'; }\n",
    });
    expect(mod.out).toEqual(['b:early', 'a', 'main', 'helped']);
  });

  it('turns import() of a bundled module into its namespace, and rewrites import.meta.url', async () => {
    const { mod } = await bundleAndImport({
      'main.js': [
        'export async function load() { return (await import("./sub/lazy.js")).Lazy; }',
        "export { where } from './sub/where.js';",
      ].join('\n'),
      'sub/lazy.js': 'export class Lazy { static id = 7; }\n',
      'sub/where.js': "export function where() { return new URL('./x.txt', import.meta.url).pathname; }\n",
    });
    expect(((await (mod.load as () => Promise<{ id: number }>)()) as { id: number }).id).toBe(7);
    expect(String((mod.where as () => string)())).toMatch(/\/sub\/x\.txt$/);
  });

  it('runs the modules in strict mode, as modules are', async () => {
    const { mod } = await bundleAndImport({
      'main.js': "export const strict = (function () { return this === undefined; })();\n",
    });
    expect(mod.strict).toBe(true);
  });

  it('requires node: builtins and imports packages through the loader', async () => {
    const { mod } = await bundleAndImport({
      'main.js': [
        "import * as fs from 'node:fs';",
        "import { join } from 'node:path';",
        "export const ok = typeof fs.readFileSync === 'function' && join('a', 'b') === 'a/b';",
        "export const pkg = () => import('node:os').then((m) => typeof m.tmpdir);",
      ].join('\n'),
    });
    expect(mod.ok).toBe(true);
    expect(await (mod.pkg as () => Promise<string>)()).toBe('function');
  });

  it('drops comments but keeps line breaks, and writes literals in ASCII', () => {
    const code = [
      '// a comment',
      'const a = 1 /* inline */ + 2;',
      'function f() {',
      '  return /* a',
      '  line break */ a;',
      '}',
      "const s = 'caf\u00e9 \u2026', t = `\u2192 ${a}`, r = /\u2013/;",
      'const u = `line one',
      '',
      '// not a comment',
      'line four`;',
    ].join('\n');
    const out = (compact as (code: string) => string)(code);
    expect(out).not.toMatch(/^\/\/ a comment|inline/m);
    expect(out).toMatch(/not a comment/); // inside a template literal
    expect(out).toMatch(/^[\x00-\x7f]*$/);
    const run = (c: string) => new Function(`${c}\nreturn [a, f(), s, t, r.test('\u2013'), r.test('-'), u];`)() as unknown[];
    expect(run(out)).toEqual(run(code));
    expect(run(out)[1]).toBeUndefined(); // the line break in the comment still ends the return
  });

  it('gives up on what it does not handle', () => {
    const dir = project({ 'main.js': 'export default 1;\n' });
    expect(() => run(join(dir, 'main.js'), join(dir, 'out.js'))).toThrow(BundleError as new () => Error);
    const dir2 = project({ 'main.js': "import * as ns from './lib.js';\nexport const all = ns;\n", 'lib.js': 'export const x = 1;\n' });
    expect(() => run(join(dir2, 'main.js'), join(dir2, 'out.js'))).toThrow(/namespace ns used as a value/);
    const dir3 = project({ 'main.js': "import { Chalk } from 'chalk';\nexport const c = Chalk;\n" });
    expect(() => run(join(dir3, 'main.js'), join(dir3, 'out.js'))).toThrow(/static import of the package chalk/);
  });

  it("the built code cache is accepted under the flags of bin/vmrun.js's #! line", () => {
    // V8 rejects a code cache made under other V8 flags (part of its check), and vmrun then
    // compiles its 0.4 MB from source at every launch. The cache is made by `npm run build` under
    // Node's defaults, so the #! line may carry Node options (--v8-pool-size) but no V8 flag that
    // enters that check (--min-semi-space-size=8 did: launch went from 40 to 60 ms).
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const shebang = readFileSync(join(root, 'bin/vmrun.js'), 'utf8').split('\n')[0];
    const m = /^#!\/usr\/bin\/env -S (?:-u \S+ )*node((?: --?\S+)*)$/.exec(shebang);
    expect(m, shebang).not.toBeNull();
    const flags = m![1].trim().split(/\s+/).filter((f) => f !== '');
    const check = [
      "import { readFileSync } from 'node:fs';",
      "import { Script } from 'node:vm';",
      `const code = readFileSync(${JSON.stringify(join(root, 'dist/vmrun-bundle.js'))}, 'latin1');`,
      `const cache = readFileSync(${JSON.stringify(join(root, 'dist/vmrun-bundle.cache'))});`,
      "const id = /^\\/\\/ vmrun-bundle (\\w+)\\n/.exec(code)[1];",
      "const s = new Script(code, { filename: 'vmrun-bundle.js', cachedData: cache.subarray(id.length + 1) });",
      'process.stdout.write(String(s.cachedDataRejected));',
    ].join('\n');
    const r = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', check], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout, `cache rejected under ${flags.join(' ')}`).toBe('false');
  });
});
