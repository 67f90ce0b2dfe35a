// A small WebAssembly binary writer: what the block compiler needs to emit a module (function
// types, imported functions and memory, functions with i32 locals, exports) and the code in it
// (i32 arithmetic, loads and stores, structured control, calls). Encodings follow the
// WebAssembly core specification, section 5 (binary format).

export const I32 = 0x7f;
export const VOID = 0x40;

/** Opcodes used by the compiler. */
export const Op = {
  unreachable: 0x00, nop: 0x01, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b,
  br: 0x0c, brIf: 0x0d, brTable: 0x0e, return: 0x0f, call: 0x10, drop: 0x1a, select: 0x1b,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, i32Load8s: 0x2c, i32Load8u: 0x2d, i32Load16s: 0x2e, i32Load16u: 0x2f,
  f64Load: 0x2b,
  i32Store: 0x36, i32Store8: 0x3a, i32Store16: 0x3b,
  i32Const: 0x41,
  i32Eqz: 0x45, i32Eq: 0x46, i32Ne: 0x47, i32LtS: 0x48, i32LtU: 0x49, i32GtS: 0x4a, i32GtU: 0x4b,
  i32LeS: 0x4c, i32LeU: 0x4d, i32GeS: 0x4e, i32GeU: 0x4f,
  i32Popcnt: 0x69, i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32And: 0x71, i32Or: 0x72, i32Xor: 0x73,
  i32Shl: 0x74, i32ShrS: 0x75, i32ShrU: 0x76, i32Rotl: 0x77, i32Rotr: 0x78,
  i64Mul: 0x7e, i32WrapI64: 0xa7, i64ExtendI32s: 0xac, i64ExtendI32u: 0xad, i64ShrS: 0x87, i64ShrU: 0x88,
  i64Const: 0x42, i64Ne: 0x52, i32Extend8s: 0xc0, i32Extend16s: 0xc1,
} as const;

/** Unsigned LEB128 into a number array (module headers). */
function uleb(out: number[], v: number): void {
  v >>>= 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

/** A function body being written, into a growing byte buffer. */
export class Code {
  buf = new Uint8Array(4096);
  /** Bytes written. */
  len = 0;
  /** Structured constructs open (block, loop, if): what a label's depth is measured against. */
  depth = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
  }

  private u(v: number): void {
    this.room(5);
    v >>>= 0;
    do {
      let x = v & 0x7f;
      v >>>= 7;
      if (v !== 0) x |= 0x80;
      this.buf[this.len++] = x;
    } while (v !== 0);
  }

  private s(v: number): void {
    this.room(5);
    v |= 0;
    for (;;) {
      const x = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (x & 0x40) === 0) || (v === -1 && (x & 0x40) !== 0)) {
        this.buf[this.len++] = x;
        return;
      }
      this.buf[this.len++] = x | 0x80;
    }
  }

  private byte(x: number): void {
    this.room(1);
    this.buf[this.len++] = x;
  }

  op(o: number): this { this.byte(o); return this; }
  i32(v: number): this { this.byte(Op.i32Const); this.s(v); return this; }
  get(l: number): this { this.byte(Op.localGet); this.u(l); return this; }
  set(l: number): this { this.byte(Op.localSet); this.u(l); return this; }
  tee(l: number): this { this.byte(Op.localTee); this.u(l); return this; }
  call(f: number): this { this.byte(Op.call); this.u(f); return this; }
  br(depth: number): this { this.byte(Op.br); this.u(depth); return this; }
  brIf(depth: number): this { this.byte(Op.brIf); this.u(depth); return this; }
  /** `block`, `loop` or `if` without results. */
  open(o: number): this { this.byte(o); this.byte(VOID); this.depth++; return this; }
  end(): this { this.byte(Op.end); this.depth--; return this; }
  /** br_table over `targets` (relative depths) and a default. */
  brTable(targets: number[], dflt: number): this {
    this.byte(Op.brTable);
    this.u(targets.length);
    for (const t of targets) this.u(t);
    this.u(dflt);
    return this;
  }
  /** A load or store with its memarg: alignment exponent and a constant offset. */
  mem(o: number, align: number, offset: number): this {
    this.byte(o);
    this.u(align);
    this.u(offset);
    return this;
  }
  /** Drop what was written after byte `n`. */
  truncate(n: number): void { this.len = n; }
  /** Cut bytes a..b out (a stack-neutral run of whole instructions). */
  cut(a: number, b: number): void {
    this.buf.copyWithin(a, b, this.len);
    this.len -= b - a;
  }
}

export interface FuncType { params: number; results: number }

export interface ModuleSpec {
  /** Imported functions: all parameters and results are i32. */
  imports: { name: string; type: FuncType }[];
  /** The function defined by the module (index imports.length), exported as "run". */
  func: { type: FuncType; locals: number; code: Code };
}

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const x of body) out.push(x);
}

function name(out: number[], s: string): void {
  uleb(out, s.length);
  for (let k = 0; k < s.length; k++) out.push(s.charCodeAt(k));
}

/**
 * A module importing memory "m"."mem" and functions "m".<name>, defining one function, exported
 * as "run".
 */
export function buildModule(spec: ModuleSpec): Uint8Array<ArrayBuffer> {
  const types: FuncType[] = [];
  const typeIndex = (t: FuncType): number => {
    let k = types.findIndex((x) => x.params === t.params && x.results === t.results);
    if (k < 0) k = types.push(t) - 1;
    return k;
  };
  const importTypes = spec.imports.map((i) => typeIndex(i.type));
  const funcType = typeIndex(spec.func.type);
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const t: number[] = [];
  uleb(t, types.length);
  for (const ty of types) {
    t.push(0x60);
    uleb(t, ty.params);
    for (let k = 0; k < ty.params; k++) t.push(I32);
    uleb(t, ty.results);
    for (let k = 0; k < ty.results; k++) t.push(I32);
  }
  section(out, 1, t);
  const im: number[] = [];
  uleb(im, spec.imports.length + 1);
  name(im, 'm'); name(im, 'mem'); im.push(0x02, 0x00, 0x00); // memory, min 0, no maximum
  spec.imports.forEach((i, k) => {
    name(im, 'm'); name(im, i.name); im.push(0x00); uleb(im, importTypes[k]);
  });
  section(out, 2, im);
  const fn: number[] = [];
  uleb(fn, 1); uleb(fn, funcType);
  section(out, 3, fn);
  const ex: number[] = [];
  uleb(ex, 1); name(ex, 'run'); ex.push(0x00); uleb(ex, spec.imports.length);
  section(out, 7, ex);
  const locals: number[] = [];
  if (spec.func.locals > 0) {
    uleb(locals, 1); uleb(locals, spec.func.locals); locals.push(I32);
  } else {
    uleb(locals, 0);
  }
  const code = spec.func.code;
  const bodyLen = locals.length + code.len + 1;
  const head: number[] = [];
  uleb(head, 1);
  uleb(head, bodyLen);
  out.push(10);
  uleb(out, head.length + bodyLen);
  for (const x of head) out.push(x);
  for (const x of locals) out.push(x);
  const bytes = new Uint8Array(out.length + code.len + 1);
  bytes.set(out);
  bytes.set(code.buf.subarray(0, code.len), out.length);
  bytes[bytes.length - 1] = Op.end;
  return bytes;
}
