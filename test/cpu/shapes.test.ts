// makeFieldsMutable (src/cpu/shapes.ts): the values survive, and the hidden classes of the core's
// hot objects have no "const" fields, even after a full garbage collection (which drops hidden
// classes no live object uses: the template objects must stay reachable).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeFieldsMutable } from '../../src/cpu/shapes.js';

describe('makeFieldsMutable', () => {
  it('leaves every field with the value it had, and objects untouched', () => {
    const arr = new Int32Array(4);
    const o = { a: 0, b: -7, c: 2.5, d: 0xffffffff, e: true, f: false, g: null, h: undefined, i: arr, j: 'text' };
    const before = { ...o };
    expect(makeFieldsMutable(o)).toBe(o);
    expect(o).toEqual(before);
    expect(o.i).toBe(arr);
  });

  it('the Block and Insn hidden classes have no const fields, also after a full GC', () => {
    const decoder = fileURLToPath(new URL('../../dist/cpu/decoder.js', import.meta.url));
    const script = `
      const { Block, Insn } = await import(${JSON.stringify(decoder)});
      globalThis.gc();
      const print = new Function('o', '%DebugPrint(o)');
      print(new Block(42));
      print(new Insn());
    `;
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const fields = r.stdout.split('\n').filter((l) => /data field \d+/.test(l));
    // Every field of both classes is listed, and none is const.
    for (const name of ['valid', 'cacheable', 'compiled', 'execCount', 'succ0', 'key', 'op', 'disp', 'handler']) {
      expect(fields.some((l) => l.includes(`#${name}:`)), `field ${name} listed`).toBe(true);
    }
    const constFields = fields.filter((l) => l.includes('const data field') && !/#(insns):/.test(l));
    expect(constFields, constFields.join('\n')).toEqual([]);
  });
});
