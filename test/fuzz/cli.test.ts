// The process-level fuzzer, bounded for `npm test`: fixed cases of fixed seeds (a Linux bzImage
// boot and bzImage header mutants, boot sectors, multiboot a.out and ELF kernels, random 16- and
// 32-bit instruction streams) run through `node bin/vmrun.js` (built by `npm run build`), each
// checked as cli-fuzz.ts describes: documented status, no escaped exception, --timeout kept,
// peak RSS, vmrun's stderr formats. `npm run fuzz` runs thousands.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkCliResult, generateCliCase, runCliCase, workDir } from './cli-fuzz.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Seed 100 but case 1 (a bzImage mutant that runs to its 1.5 s timeout: too long here), and a
// 16- and a 32-bit random stream that end by themselves (status 3 and 4): cases that run into
// slow self-modifying code (test/fuzz/repro/cli.test.ts) overrun their timeout on a busy host.
const CASES: [number, number][] = [[100, 0], ...Array.from({ length: 8 }, (_, k): [number, number] => [100, k + 2]), [109, 4], [111, 8]];

describe('process-level fuzzing (smoke)', () => {
  const work = workDir();
  it.each(CASES)('seed %i case %i keeps vmrun\'s promises', async (seed, index) => {
    const c = generateCliCase(ROOT, seed, index);
    const r = await runCliCase(ROOT, c, work);
    const problems = checkCliResult(c, r);
    expect(problems, `${c.kind} from ${c.base} (${c.mutations.join('; ')}), ${c.args.join(' ')}: status ${r.status}\n${r.stderr.slice(0, 2000)}`).toEqual([]);
  });

  it('the cases cover every format vmrun loads', () => {
    const kinds = new Set(CASES.map(([s, k]) => generateCliCase(ROOT, s, k).kind));
    expect([...kinds].sort()).toEqual(['bootsector', 'bzimage', 'multiboot-aout', 'multiboot-elf', 'stream16', 'stream32']);
  });
});
