import { describe, expect, it } from 'vitest';
import { PostCodePort } from '../../src/devices/post-code.js';

describe('PostCodePort', () => {
  it('starts with no codes; reads as an undriven bus', () => {
    const p = new PostCodePort();
    expect(p.last).toBe(-1);
    expect(p.codes).toEqual([]);
    expect(p.read(0, 1)).toBe(0xff);
  });

  it('records writes and reads back the last one', () => {
    const p = new PostCodePort();
    p.write(0, 1, 0x12);
    p.write(0, 1, 0x134); // only the low byte reaches the port
    expect(p.last).toBe(0x34);
    expect(p.codes).toEqual([0x12, 0x34]);
    expect(p.read(0, 1)).toBe(0x34);
  });

  it('keeps the last 256 writes, oldest first', () => {
    const p = new PostCodePort();
    for (let i = 0; i < 300; i++) p.write(0, 1, i & 0xff);
    const c = p.codes;
    expect(c.length).toBe(256);
    expect(c[0]).toBe(300 - 256);
    expect(c[255]).toBe(299 & 0xff);
  });

  it('splits wide accesses: only the low byte is the port', () => {
    const p = new PostCodePort();
    p.write(0, 2, 0xabcd);
    expect(p.codes).toEqual([0xcd]);
    expect(p.read(0, 2)).toBe(0xffcd);
    expect(p.read(0, 4)).toBe(0xffffffcd);
  });

  it('rejects other offsets', () => {
    const p = new PostCodePort();
    expect(() => p.write(1, 1, 0)).toThrow(/offset 1/);
  });

  it('saves and restores', () => {
    const p = new PostCodePort();
    for (let i = 0; i < 260; i++) p.write(0, 1, i & 0xff);
    const s = JSON.parse(JSON.stringify(p.save()));
    expect(s.kind).toBe('post-code');
    const q = new PostCodePort();
    q.restore(s);
    expect(q.codes).toEqual(p.codes);
    expect(q.last).toBe(p.last);
    q.write(0, 1, 0x99);
    expect(q.codes.length).toBe(256);
    expect(q.codes[255]).toBe(0x99);
    expect(q.codes[0]).toBe(5);
    expect(() => q.restore({ kind: 'post-code', version: 2 })).toThrow();
  });
});
