// Transcendental instructions against correctly rounded references (mpmath at 400 bits, all four
// rounding modes, every precision control): test/cpu/fixtures/fpu-trans-mpmath.json.gz from
// tools/gen-fpu-trans-fixtures.py. The x87 here evaluates them at 192 bits and rounds once, so
// results must match exactly — including large trigonometric arguments and arguments next to
// multiples of π/2, where a physical x87 (66-bit π) does not.

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../src/hv/exit.js';
import { FpuMachine, runFixtureOp } from './fpu-harness.js';

interface Fixture {
  reference: string;
  ops: Record<string, { bytes: string; cases: Array<[string, string]> }>;
}

const file = path.join(__dirname, 'fixtures', 'fpu-trans-mpmath.json.gz');
const fixture = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8')) as Fixture;

const hex = (b: number[]) => b.map((v) => v.toString(16).padStart(2, '0')).join('');

describe(`x87 transcendentals, correctly rounded (${fixture.reference})`, () => {
  const m = new FpuMachine();
  for (const [name, spec] of Object.entries(fixture.ops)) {
    it(name, () => {
      const { r, out } = runFixtureOp(m, spec.bytes, spec.cases);
      expect(r.errReason).toBe('');
      expect(r.exit).toBe(ExitReason.Hlt);
      const failures: string[] = [];
      spec.cases.forEach(([inp, exp], k) => {
        const got = out.slice(k * 32, k * 32 + 32);
        const want = exp;
        // ST(0) and ST(1) exactly; C2 clear (the argument was in range).
        const ok = hex(got.slice(0, 10)) === want.slice(0, 20) && hex(got.slice(12, 22)) === want.slice(24, 44) &&
          (got[11] & 0x04) === 0;
        if (!ok) failures.push(`#${k} in=${inp}: want ${want.slice(0, 20)} ${want.slice(24, 44)}, got ${hex(got.slice(0, 10))} ${hex(got.slice(12, 22))} sw=${hex([got[11], got[10]])}`);
      });
      if (failures.length > 0) console.log(`${name}: ${failures.length} of ${spec.cases.length} differ\n${failures.slice(0, 6).join('\n')}`);
      expect(failures.slice(0, 8)).toEqual([]);
    });
  }
});
