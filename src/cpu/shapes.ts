// Hidden-class hygiene for the objects the hot paths use.
//
// V8 records, per hidden class, whether each field has only ever held the value it was
// initialised with ("const"), and code it optimises meanwhile may depend on that. The first later
// store of another value turns the field "mutable" for every object of that class and throws
// away all the optimised code that depended on it, which V8 then optimises again (on its one
// background thread: see docs/architecture.md, "Where the Linux boot's time goes"). A boot meets
// such first stores one by one (the first compiled block, the first invalidated block, the first
// debug-register write, …), each costing a round of re-optimisation of the dispatch loop.
// makeFieldsMutable does those first stores up front, on a freshly built object, and restores
// the values.

/**
 * Store a different value into each of `o`'s own fields that hold a primitive, null or a function, then the
 * original one: afterwards no field of o's hidden class is "const". Fields holding other objects
 * (typed arrays, maps, …) are left alone: they are never reassigned, and V8's knowledge of their
 * class is what makes the loads through them fast. Returns `o`, which must stay reachable for as
 * long as objects of its class are made: the collector drops hidden classes no live object has.
 */
export function makeFieldsMutable<T extends object>(o: T): T {
  const rec = o as Record<string, unknown>;
  for (const key of Object.keys(rec)) {
    const v = rec[key];
    switch (typeof v) {
      case 'number':
        rec[key] = Number.isInteger(v) ? v ^ 1 : v + 0.5;
        break;
      case 'boolean':
        rec[key] = !v;
        break;
      case 'undefined':
        rec[key] = null;
        break;
      case 'object':
        if (v !== null) continue;
        rec[key] = undefined;
        break;
      case 'function': // a handler or callback that will be replaced
        rec[key] = null;
        break;
      default:
        continue;
    }
    rec[key] = v;
  }
  return o;
}
