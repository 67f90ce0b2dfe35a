// npm run fuzz [-- options]: the long run of vmrun's fuzzers (options: test/fuzz/long-run.ts).
//
// The fuzzers are TypeScript under test/fuzz; this compiles them with the core into
// dist/fuzz/a (tools/fuzz.tsconfig.json) and copies the core into one folder per instance
// (dist/fuzz/compiled, dist/fuzz/regions): the block compiler reads its settings when its module
// is first evaluated, so each instance the in-process harness compares must be a module of its
// own. The CLI fuzzer runs bin/vmrun.js, built by `npm run build` (the npm script runs it first).
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tools/fuzz.tsconfig.json'], { cwd: root, stdio: 'inherit' });
const cores = ['--core', `interpreter=${root}dist/fuzz/a`];
for (const name of ['compiled', 'regions']) {
  rmSync(`${root}dist/fuzz/${name}`, { recursive: true, force: true });
  cpSync(`${root}dist/fuzz/a/src`, `${root}dist/fuzz/${name}/src`, { recursive: true });
  cores.push('--core', `${name}=${root}dist/fuzz/${name}`);
}
const args = ['dist/fuzz/a/test/fuzz/long-run.js', '--root', root, ...cores, ...process.argv.slice(2)];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
child.on('close', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
