#!/usr/bin/env node
// Joins the tsc output (dist/**/*.js, ES modules) into one script, dist/vmrun-bundle.js, with a V8
// code cache next to it (dist/vmrun-bundle.cache); bin/vmrun.js runs that. Why: Node 20 spends
// about 0.5 ms per module file on resolving, reading and linking them, and vmrun is some 40
// files; compiling vmrun's 0.4 MB of JavaScript takes another 8 ms, which a code cache saves.
// Node 20 has no compile cache of its own (node:module's enableCompileCache is Node 22) and vmrun
// takes no bundler dependency, so this is a small scope-hoisting joiner of its own, built on the
// TypeScript compiler API (a dev dependency) for the one hard part: knowing which identifier
// refers to which declaration.
//
//   node tools/bundle.mjs                 dist/cli/main.js → dist/vmrun-bundle.js (npm run build)
//   node tools/bundle.mjs ENTRY OUT
//
// The bundle is one function expression, `(function (require, importModule, url) { … })`: its
// caller (bin/vmrun.js) compiles it with node:vm, using the code cache, and calls it with a
// require for node: builtins, a dynamic import for packages, and the bundle's URL; it returns the
// entry module's exports. Inside, modules are laid out in ES evaluation order (post-order of the
// static imports, then the modules only reached by a dynamic import()), in strict mode as modules
// are; each module's top-level declarations become declarations of the one function, `export`
// keywords and import/export statements go away, and references to imported bindings are
// rewritten to the declarations they resolve to. A name keeps its spelling unless another
// declaration or a local in any module uses the same spelling; then it becomes name$N (a
// spelling that appears nowhere). Also rewritten: `ns.x` through `import * as ns` (to x's
// declaration), `import.meta.url` (to the original module's URL, so relative file lookups still
// work), `import('./m.js')` (to a resolved promise of m's namespace object), imports of node:
// builtins (to require) and import() of packages (to the importModule parameter). Comments are
// dropped and literals made ASCII (see compact()).
//
// Anything it does not understand (export default, a namespace object used as a value, a static
// import of a package, a top-level await, …) makes it give up: it prints why, removes any old
// bundle, and exits 0; bin/vmrun.js then loads dist/cli/main.js as before. bin/vmrun.js also
// ignores a bundle older than dist/cli/main.js (tsc run without this step), and a code cache
// written for another bundle, so neither is ever used stale.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import ts from 'typescript';

export class BundleError extends Error {}

const isRelative = (spec) => spec.startsWith('./') || spec.startsWith('../');

function where(node) {
  const sf = node.getSourceFile();
  const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
  return `${sf.fileName}:${line + 1}`;
}

/**
 * Bundle the ES module graph rooted at `entry` (a .js file) into one script meant to be written
 * at `outFile` (which import.meta.url rewrites are relative to). Returns the code, its id (in the
 * first line) and counts; throws BundleError.
 */
export function bundle(entry, outFile) {
  entry = path.resolve(entry);
  const outDir = path.dirname(path.resolve(outFile));

  // 1. The module graph, from the import statements (source order), and the evaluation order.
  const graph = new Map(); // file → { deps: [file], dynamic: [file] }
  const scan = (file) => {
    if (graph.has(file)) return;
    if (!existsSync(file)) throw new BundleError(`missing module ${file}`);
    const text = readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
    const node = { deps: [], dynamic: [] };
    graph.set(file, node);
    const resolve = (spec) => path.resolve(path.dirname(file), spec);
    for (const st of sf.statements) {
      const spec = (ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)
        ? st.moduleSpecifier.text : null;
      if (spec !== null && isRelative(spec)) node.deps.push(resolve(spec));
    }
    const findDynamic = (n) => {
      if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const a = n.arguments[0];
        if (a && ts.isStringLiteralLike(a) && isRelative(a.text)) node.dynamic.push(resolve(a.text));
      }
      ts.forEachChild(n, findDynamic);
    };
    findDynamic(sf);
    for (const d of [...node.deps, ...node.dynamic]) scan(d);
  };
  scan(entry);

  const order = [];
  const visited = new Set();
  const visit = (file) => {
    if (visited.has(file)) return;
    visited.add(file);
    for (const d of graph.get(file).deps) visit(d);
    order.push(file);
  };
  visit(entry);
  for (let k = 0; k < order.length; k++) for (const d of graph.get(order[k]).dynamic) visit(d);

  // 2. A program over exactly these files, for the checker. The .d.ts files tsc wrote next to
  // them are hidden, so that './x.js' resolves to x.js itself.
  const options = {
    allowJs: true, checkJs: false, noEmit: true, noLib: true, types: [], skipLibCheck: true,
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options, true);
  const inGraphDir = (f) => order.some((m) => path.dirname(m) === path.dirname(path.resolve(f)));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => (/\.d\.[cm]?ts$|\.[cm]?tsx?$/.test(f) && inGraphDir(f) ? false : fileExists(f));
  const program = ts.createProgram({ rootNames: order, options, host });
  const checker = program.getTypeChecker();
  const source = new Map(order.map((f) => [f, program.getSourceFile(f)]));
  for (const [f, sf] of source) if (!sf) throw new BundleError(`TypeScript did not load ${f}`);

  // 3. Bindings: every top-level declaration of every module, every imported package binding.
  const bindings = []; // { text, final, external?: { spec, imported } }
  const bySymbol = new Map(); // normalized symbol → binding
  const externalByAlias = new Map(); // import alias symbol → binding (one per spec+name)
  const externalByKey = new Map();
  const namespaceAlias = new Map(); // `import * as ns` alias symbol → module file
  const removed = new Set(); // statements dropped from the output
  const exportKeywords = []; // export modifiers to drop

  const norm = (sym) => {
    if (sym === undefined) return undefined;
    if (sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
    return checker.getExportSymbolOfSymbol(sym) ?? sym;
  };
  const declare = (nameNode) => {
    const sym = norm(checker.getSymbolAtLocation(nameNode));
    if (sym === undefined) throw new BundleError(`no symbol for ${nameNode.text} at ${where(nameNode)}`);
    if (bySymbol.has(sym)) return;
    const b = { text: nameNode.text, final: null };
    bindings.push(b);
    bySymbol.set(sym, b);
  };
  const declarePattern = (name) => {
    if (ts.isIdentifier(name)) declare(name);
    else for (const el of name.elements) if (!ts.isOmittedExpression(el)) declarePattern(el.name);
  };
  const modifiers = (st) => {
    const mods = ts.canHaveModifiers(st) ? ts.getModifiers(st) ?? [] : [];
    if (mods.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)) throw new BundleError(`export default at ${where(st)}`);
    for (const m of mods) if (m.kind === ts.SyntaxKind.ExportKeyword) exportKeywords.push(m);
  };
  // `var` declarations hoist to the module scope from blocks, loops and the like.
  const hoistedVars = (n) => {
    if (ts.isFunctionLike(n) || ts.isClassLike(n)) return;
    if (ts.isVariableDeclarationList(n) && !(n.flags & ts.NodeFlags.BlockScoped)) for (const d of n.declarations) declarePattern(d.name);
    ts.forEachChild(n, hoistedVars);
  };

  for (const file of order) {
    const sf = source.get(file);
    for (const st of sf.statements) {
      if (ts.isImportDeclaration(st)) {
        removed.add(st);
        const spec = st.moduleSpecifier.text;
        const clause = st.importClause;
        if (!clause) {
          if (!isRelative(spec)) throw new BundleError(`side-effect import of ${spec} at ${where(st)}`);
          continue;
        }
        const bindExternal = (nameNode, imported) => {
          if (!spec.startsWith('node:')) throw new BundleError(`static import of the package ${spec} at ${where(st)} (only node: builtins can be required)`);
          const key = `${spec}\0${imported}`;
          let b = externalByKey.get(key);
          if (b === undefined) {
            b = { text: nameNode.text, final: null, external: { spec, imported } };
            bindings.push(b);
            externalByKey.set(key, b);
          }
          externalByAlias.set(checker.getSymbolAtLocation(nameNode), b);
        };
        if (clause.isTypeOnly) continue;
        if (clause.name) {
          if (isRelative(spec)) throw new BundleError(`default import at ${where(st)}`);
          bindExternal(clause.name, 'default');
        }
        const nb = clause.namedBindings;
        if (nb && ts.isNamespaceImport(nb)) {
          if (isRelative(spec)) namespaceAlias.set(checker.getSymbolAtLocation(nb.name), path.resolve(path.dirname(file), spec));
          else bindExternal(nb.name, '*');
        } else if (nb) {
          for (const el of nb.elements) {
            if (el.isTypeOnly || isRelative(spec)) continue;
            bindExternal(el.name, (el.propertyName ?? el.name).text);
          }
        }
      } else if (ts.isExportDeclaration(st)) {
        if (st.moduleSpecifier && !isRelative(st.moduleSpecifier.text)) throw new BundleError(`re-export from a package at ${where(st)}`);
        if (st.exportClause && ts.isNamespaceExport(st.exportClause)) throw new BundleError(`export * as at ${where(st)}`);
        removed.add(st);
      } else if (ts.isExportAssignment(st)) {
        throw new BundleError(`export default at ${where(st)}`);
      } else if (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) {
        modifiers(st);
        if (st.name) declare(st.name);
      } else if (ts.isVariableStatement(st)) {
        modifiers(st);
        for (const d of st.declarationList.declarations) declarePattern(d.name);
      } else {
        hoistedVars(st);
      }
    }
  }

  // 4. Every identifier that is a reference or a declaration (not a property name), and what it
  // resolves to: a binding, a namespace alias, or something else (a local, a global).
  const OTHER = { other: true };
  const occurrences = new Map(); // identifier node → binding | OTHER
  const allTexts = new Set();
  const isNameOnly = (id) => {
    const p = id.parent;
    return (ts.isPropertyAccessExpression(p) && p.name === id) ||
      ((ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p) || ts.isPropertyDeclaration(p) ||
        ts.isGetAccessorDeclaration(p) || ts.isSetAccessorDeclaration(p)) && p.name === id) ||
      (ts.isBindingElement(p) && p.propertyName === id) ||
      ((ts.isLabeledStatement(p) || ts.isBreakOrContinueStatement(p)) && p.label === id) ||
      ts.isMetaProperty(p);
  };
  const resolveId = (id) => {
    const p = id.parent;
    const sym = ts.isShorthandPropertyAssignment(p) && p.name === id
      ? checker.getShorthandAssignmentValueSymbol(p)
      : checker.getSymbolAtLocation(id);
    if (sym === undefined) return OTHER;
    const ext = externalByAlias.get(sym);
    if (ext !== undefined) return ext;
    if (namespaceAlias.has(sym)) return { namespace: namespaceAlias.get(sym) };
    return bySymbol.get(norm(sym)) ?? OTHER;
  };
  for (const file of order) {
    const walk = (n) => {
      if (removed.has(n)) return;
      if (ts.isIdentifier(n)) {
        allTexts.add(n.text);
        if (!isNameOnly(n)) occurrences.set(n, resolveId(n));
      }
      ts.forEachChild(n, walk);
    };
    walk(source.get(file));
  }
  // Names in removed statements still count as spellings to avoid.
  for (const st of removed) {
    const all = (n) => {
      if (ts.isIdentifier(n)) allTexts.add(n.text);
      ts.forEachChild(n, all);
    };
    all(st);
  }

  // 5. Final names. A binding keeps its spelling when every identifier spelled so refers to a
  // binding (no local or global shares it) and no earlier binding took it.
  const spellingTargets = new Map();
  for (const [id, target] of occurrences) {
    if (target.namespace !== undefined) continue;
    let set = spellingTargets.get(id.text);
    if (set === undefined) spellingTargets.set(id.text, (set = new Set()));
    set.add(target);
  }
  const taken = new Set();
  const fresh = (text) => {
    for (let n = 1; ; n++) {
      const name = `${text}$${n}`;
      if (!allTexts.has(name) && !taken.has(name)) {
        taken.add(name);
        return name;
      }
    }
  };
  let renamed = 0;
  for (const b of bindings) {
    const targets = spellingTargets.get(b.text) ?? new Set([b]);
    if (!taken.has(b.text) && !targets.has(OTHER)) {
      b.final = b.text;
      taken.add(b.text);
    } else {
      b.final = fresh(b.text);
      renamed++;
    }
  }

  // Namespace objects for dynamic imports of bundled modules.
  const namespaces = new Map(); // file → name
  const namespaceObject = (file) => {
    let name = namespaces.get(file);
    if (name === undefined) namespaces.set(file, (name = fresh(`ns_${path.basename(file, '.js').replace(/\W/g, '_')}`)));
    return name;
  };
  const exportsOf = (file) => {
    const msym = checker.getSymbolAtLocation(source.get(file));
    if (msym === undefined) return [];
    return checker.getExportsOfModule(msym).flatMap((sym) => {
      const b = bySymbol.get(norm(sym));
      if (b === undefined) {
        // Type-only exports have no value; anything else would be a binding we did not see.
        if (norm(sym).flags & ts.SymbolFlags.Value) throw new BundleError(`export ${sym.name} of ${file} has no declaration in the bundle`);
        return [];
      }
      return [[sym.name, b.final]];
    });
  };

  // The bundle function's parameters.
  const params = { require: fresh('require'), importModule: fresh('importModule'), url: fresh('bundleUrl') };

  // 6. Edits, module by module.
  const relUrl = (file) => {
    const rel = path.relative(outDir, file).split(path.sep).join('/');
    return rel.startsWith('.') ? rel : `./${rel}`;
  };
  const importMeta = (n) => ts.isMetaProperty(n) && n.keywordToken === ts.SyntaxKind.ImportKeyword;
  const chunks = [];
  for (const file of order) {
    const sf = source.get(file);
    const text = sf.text;
    const edits = []; // [start, end, replacement]
    for (const st of removed) if (st.getSourceFile() === sf) edits.push([st.getStart(), st.end, '']);
    for (const m of exportKeywords) {
      if (m.getSourceFile() !== sf) continue;
      let end = m.end;
      while (text[end] === ' ') end++;
      edits.push([m.getStart(), end, '']);
    }
    const walk = (n) => {
      if (removed.has(n)) return;
      if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression)) {
        const t = occurrences.get(n.expression);
        if (t !== undefined && t.namespace !== undefined) {
          const b = bySymbol.get(norm(checker.getSymbolAtLocation(n.name)));
          if (b === undefined) throw new BundleError(`cannot resolve ${n.getText()} at ${where(n)}`);
          edits.push([n.getStart(), n.end, b.final]);
          return;
        }
      }
      if (ts.isPropertyAccessExpression(n) && importMeta(n.expression)) {
        if (n.name.text !== 'url') throw new BundleError(`import.meta.${n.name.text} at ${where(n)}`);
        edits.push([n.getStart(), n.end, `new URL(${JSON.stringify(relUrl(file))}, ${params.url}).href`]);
        return;
      }
      if (importMeta(n)) throw new BundleError(`import.meta used alone at ${where(n)}`);
      if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const a = n.arguments[0];
        if (a === undefined || !ts.isStringLiteralLike(a)) throw new BundleError(`import() of a computed name at ${where(n)}`);
        if (isRelative(a.text)) {
          edits.push([n.getStart(), n.end, `Promise.resolve(${namespaceObject(path.resolve(path.dirname(file), a.text))})`]);
        } else {
          edits.push([n.getStart(), n.expression.end, params.importModule]);
          ts.forEachChild(n, (c) => (c === n.expression ? undefined : walk(c)));
        }
        return;
      }
      if (ts.isAwaitExpression(n) && !ts.getContainingFunction(n)) throw new BundleError(`top-level await at ${where(n)}`);
      if (ts.isIdentifier(n)) {
        const t = occurrences.get(n);
        if (t !== undefined && t.namespace !== undefined) throw new BundleError(`namespace ${n.text} used as a value at ${where(n)}`);
        if (t !== undefined && t !== OTHER && t.final !== n.text) {
          const p = n.parent;
          const shorthand = (ts.isShorthandPropertyAssignment(p) && p.name === n) ||
            (ts.isBindingElement(p) && p.name === n && p.propertyName === undefined && ts.isObjectBindingPattern(p.parent));
          edits.push([n.getStart(), n.end, shorthand ? `${n.text}: ${t.final}` : t.final]);
        }
      }
      ts.forEachChild(n, walk);
    };
    walk(sf);
    edits.sort((a, b) => b[0] - a[0]);
    let out = text;
    let limit = Infinity;
    for (const [start, end, rep] of edits) {
      if (end > limit) throw new BundleError(`overlapping edits in ${file}`);
      out = out.slice(0, start) + rep + out.slice(end);
      limit = start;
    }
    out = out.replace(/^\/\/# sourceMappingURL=.*$/gm, '').trimEnd();
    chunks.push(`// ---- ${relUrl(file)}\n${out}\n`);
  }

  // 7. The file: package imports, namespace objects, the modules, the entry's exports.
  const head = [`(function (${params.require}, ${params.importModule}, ${params.url}) {`, "'use strict';"];
  for (const b of bindings) {
    if (b.external === undefined) continue;
    const { spec, imported } = b.external;
    const req = `${params.require}(${JSON.stringify(spec)})`;
    head.push(`const ${b.final} = ${imported === '*' || imported === 'default' ? req : `${req}.${imported}`};`);
  }
  for (const [file, name] of namespaces) {
    const getters = exportsOf(file).map(([exp, local]) => `get ${JSON.stringify(exp)}() { return ${local}; }`);
    head.push(`const ${name} = Object.freeze({ __proto__: null, [Symbol.toStringTag]: 'Module', ${getters.join(', ')} });`);
  }
  const entryExports = exportsOf(entry).map(([exp, local]) => (exp === local ? exp : `${JSON.stringify(exp)}: ${local}`));
  const joined = [...head, '', ...chunks, `return { ${entryExports.join(', ')} };`, '})', ''].join('\n');
  const body = compact(joined);
  // The first line names this exact text; a code cache is used only with the bundle it was made for.
  const id = createHash('sha256').update(body).digest('hex').slice(0, 32);
  const header = `// vmrun-bundle ${id}\n// vmrun in one file, written by tools/bundle.mjs from the ${order.length} modules of the tsc output next to it,\n` +
    '// without their comments (read those). Do not edit.\n';
  return { code: header + body, id, modules: order.length, renamed };
}

/**
 * Compile and run a bundle as bin/vmrun.js does (require for node: builtins, import() for
 * packages). Returns the entry's exports and the compiled script (for its code cache).
 */
export function runBundle(code, file, cachedData) {
  const url = pathToFileURL(file);
  const script = new Script(code, { filename: file, cachedData });
  const exports = script.runInThisContext()(createRequire(url), (spec) => import(spec), url.href);
  return { exports, script };
}

/**
 * The code without comments and blank lines, and with string, template and regular-expression
 * literals in ASCII (\uXXXX escapes). Comments are a quarter of vmrun's source, and V8 scans a
 * one-byte (Latin-1) source faster than a two-byte one; together they take several
 * milliseconds off the start. Line breaks between tokens are kept (automatic semicolon
 * insertion depends on them), and so are indentation and the `// ---- module` markers.
 */
export function compact(code) {
  const parse = (text) => ts.createSourceFile('bundle.js', text, { languageVersion: ts.ScriptTarget.ES2022, jsDocParsingMode: ts.JSDocParsingMode.ParseNone }, true, ts.ScriptKind.JS);
  const tokensOf = (sf) => {
    const tokens = [];
    const collect = (n) => {
      if (n.kind >= ts.SyntaxKind.FirstJSDocNode && n.kind <= ts.SyntaxKind.LastJSDocNode) return;
      const kids = n.getChildren(sf);
      if (kids.length > 0) kids.forEach(collect);
      else if (n.kind !== ts.SyntaxKind.SyntaxList) tokens.push(n);
    };
    collect(sf);
    return tokens;
  };
  const sf = parse(code);
  if (sf.parseDiagnostics.length > 0) throw new BundleError(`the joined code does not parse: ${sf.parseDiagnostics[0].messageText}`);
  const tokens = tokensOf(sf);
  const marker = /^\/\/ ---- /;
  const out = [];
  for (const t of tokens) {
    const start = t.getStart(sf);
    // The trivia before the token, its comments dropped (a block comment that spans lines still
    // counts as a line break), then reduced to a space, or to line breaks and the indentation.
    let trivia = '';
    for (let at = t.pos; at < start;) {
      const two = code.slice(at, at + 2);
      if (two === '//') {
        let end = code.indexOf('\n', at);
        if (end < 0 || end > start) end = start;
        const text = code.slice(at, end);
        if (marker.test(text)) trivia += text;
        at = end;
      } else if (two === '/*') {
        const end = code.indexOf('*/', at + 2) + 2;
        if (end < 2 || end > start) throw new BundleError('unterminated comment');
        trivia += /[\n\r\u2028\u2029]/.test(code.slice(at, end)) ? '\n' : ' ';
        at = end;
      } else {
        trivia += code[at++];
      }
    }
    if (trivia.includes('\n')) {
      const lines = trivia.split('\n');
      const kept = lines.slice(1, -1).map((l) => l.trim()).filter((l) => l.length > 0);
      out.push('\n', ...kept.map((l) => `${l}\n`), lines[lines.length - 1]);
    } else if (trivia.length > 0) {
      out.push(' ');
    }
    out.push(asciiLiteral(t, code.slice(start, t.end)));
  }
  const result = out.join('').replace(/^\n+/, '');
  // The same tokens in the same order, or the compaction went wrong.
  const before = tokens.map((t) => t.kind);
  const after = tokensOf(parse(result)).map((t) => t.kind);
  if (before.length !== after.length || before.some((k, i) => k !== after[i])) throw new BundleError('compaction changed the token stream');
  return result;
}

/** A literal token with its non-ASCII characters as \uXXXX escapes (same value), else as is. */
function asciiLiteral(token, text) {
  if (!/[^\x00-\x7f]/.test(text)) return text;
  const k = token.kind;
  const literal = k === ts.SyntaxKind.StringLiteral || k === ts.SyntaxKind.RegularExpressionLiteral ||
    ((k === ts.SyntaxKind.NoSubstitutionTemplateLiteral || k === ts.SyntaxKind.TemplateHead || k === ts.SyntaxKind.TemplateMiddle ||
      k === ts.SyntaxKind.TemplateTail) && !isTagged(token));
  // A non-ASCII character right after a backslash is an identity escape: leave such a token alone.
  if (!literal || /\\[^\x00-\x7f]/.test(text)) return text;
  return text.replace(/[^\x00-\x7f]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A template piece of a tagged template (whose tag could read the raw text). */
function isTagged(token) {
  for (let n = token.parent; n !== undefined; n = n.parent) {
    if (ts.isTaggedTemplateExpression(n)) return true;
    if (ts.isTemplateExpression(n) || ts.isNoSubstitutionTemplateLiteral(n)) return n.parent !== undefined && ts.isTaggedTemplateExpression(n.parent);
  }
  return false;
}

/** Run a test guest through the bundle in a fresh Node and return its code cache, or null. */
function warmCodeCache(bundleFile, root) {
  const guest = path.join(root, 'images/guests/hello.bin');
  if (!existsSync(guest)) return null;
  const out = `${bundleFile}.warm-${process.pid}`;
  const child = [
    "import { readFileSync, writeFileSync } from 'node:fs';",
    "import { createRequire } from 'node:module';",
    "import { pathToFileURL } from 'node:url';",
    "import { Script } from 'node:vm';",
    'const [file, out, ...args] = process.argv.slice(1);',
    "const code = readFileSync(file, 'latin1');",
    'const url = pathToFileURL(file);',
    'const script = new Script(code, { filename: file });',
    'const { main } = script.runInThisContext()(createRequire(url), (spec) => import(spec), url.href);',
    "const status = await main(['node', 'vmrun', ...args]);",
    'if (status === 0) writeFileSync(out, script.createCachedData());',
    'process.exitCode = status;',
  ].join('\n');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child, bundleFile, out, '--kernel', guest, '--stats'], {
    cwd: root, stdio: 'ignore', timeout: 60_000,
  });
  try {
    return r.status === 0 && existsSync(out) ? readFileSync(out) : null;
  } finally {
    rmSync(out, { force: true });
  }
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === self) {
  const root = path.resolve(path.dirname(self), '..');
  const entry = path.resolve(process.argv[2] ?? path.join(root, 'dist/cli/main.js'));
  const outFile = path.resolve(process.argv[3] ?? path.join(root, 'dist/vmrun-bundle.js'));
  const cacheFile = outFile.replace(/\.js$/, '') + '.cache';
  rmSync(cacheFile, { force: true });
  try {
    const r = bundle(entry, outFile);
    writeFileSync(outFile, r.code);
    // Evaluating the modules' top level checks that the bundle runs at all.
    let cache;
    try {
      const { exports, script } = runBundle(r.code, outFile);
      if (typeof exports.main !== 'function') throw new Error('it exports no main()');
      cache = script.createCachedData();
    } catch (e) {
      throw new BundleError(`the bundle does not run: ${e instanceof Error ? e.message : String(e)}`);
    }
    // The code cache holds the code compiled so far, so it is taken after a short run of a test
    // guest (in a child, as bin/vmrun.js runs it): then it also holds what start-up compiles —
    // option parsing, the loader, the machine, the first exits — and not the rest. It is specific
    // to this V8 version and its flags: another Node rejects it and compiles the bundle as usual.
    const warm = warmCodeCache(outFile, root);
    let how = 'after a run of images/guests/hello.bin';
    if (warm !== null) cache = warm;
    else how = 'after loading only (the warm-up run failed)';
    writeFileSync(cacheFile, Buffer.concat([Buffer.from(`${r.id}\n`), cache]));
    console.log(`bundle: ${path.relative(root, outFile)}: ${r.modules} modules, ${(r.code.length / 1024).toFixed(0)} KiB, ${r.renamed} names renamed; code cache ${(cache.length / 1024).toFixed(0)} KiB, ${how}`);
  } catch (e) {
    if (!(e instanceof BundleError)) throw e;
    rmSync(outFile, { force: true });
    rmSync(cacheFile, { force: true });
    console.warn(`bundle: not bundled (${e.message}); bin/vmrun.js loads the modules instead (slower start)`);
  }
}
