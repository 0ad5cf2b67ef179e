// tests/browser/names.mjs: a static check of how the page's classic scripts (src/web/*.js)
// share names through window.Chat, which a browser would only report when the code that
// breaks it runs. Each script is parsed (acorn) and its scopes resolved (eslint-scope), and
// it checks: every script in src/web is loaded by index.html and vice versa; no script reads
// a name that is neither its own nor a browser global; a name taken at the top
// (`const { a, b } = C;`) is exported (Object.assign(C, {...})) by a script loaded earlier;
// every C.name is exported by some script; no name is exported twice. Prints
// "N passed, N failed" (one check per script) and exits 1 on a problem.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as acorn from 'acorn';
import * as eslintScope from 'eslint-scope';

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.resolve(here, '..', '..', 'src', 'web');
const html = fs.readFileSync(path.join(web, 'index.html'), 'utf8');
const order = [...html.matchAll(/<script src="\{\{([\w-]+\.js)\}\}"/g)].map((m) => m[1]);
// What the scripts may use without defining it: the browser's own names.
const GLOBALS = new Set(['window', 'document', 'localStorage', 'location', 'console', 'setTimeout', 'clearTimeout',
  'setInterval', 'clearInterval', 'queueMicrotask', 'WebSocket', 'JSON', 'Math', 'Date', 'Number', 'String', 'Array',
  'Object', 'Map', 'Set', 'Promise', 'RegExp', 'Error', 'Uint8Array', 'Int32Array', 'DataView', 'BigInt', 'TextEncoder',
  'crypto', 'Notification', 'Blob', 'File', 'URL', 'Event', 'atob', 'isFinite', 'encodeURIComponent', 'undefined', 'Infinity']);

const problems = new Map(); // script -> [problem]
const problem = (f, text) => { if (!problems.has(f)) problems.set(f, new Set()); problems.get(f).add(text); };
const onDisk = fs.readdirSync(web).filter((f) => f.endsWith('.js'));
for (const f of onDisk) if (!order.includes(f)) problem(f, 'not loaded by index.html');
for (const f of order) if (!onDisk.includes(f)) problem(f, 'named by index.html, not in src/web');

// Object.assign(C, { a, b }) at a script's top level: what it exports.
function exportsOf(ast) {
  const names = [];
  const iife = ast.body.find((s) => s.type === 'ExpressionStatement' && s.expression.type === 'CallExpression');
  for (const st of iife ? iife.expression.callee.body.body : []) {
    const e = st.type === 'ExpressionStatement' && st.expression;
    if (e && e.type === 'CallExpression' && e.callee.type === 'MemberExpression' && e.callee.property.name === 'assign'
      && e.arguments[0]?.name === 'C' && e.arguments[1]?.type === 'ObjectExpression') {
      for (const p of e.arguments[1].properties) names.push(p.key.name);
    }
  }
  return names;
}
// `const { a, b } = C;` at a script's top level: what it takes.
function importsOf(ast) {
  const names = [];
  const iife = ast.body.find((s) => s.type === 'ExpressionStatement' && s.expression.type === 'CallExpression');
  for (const st of iife ? iife.expression.callee.body.body : []) {
    if (st.type !== 'VariableDeclaration') continue;
    for (const d of st.declarations) {
      if (d.id.type === 'ObjectPattern' && d.init?.type === 'Identifier' && d.init.name === 'C') {
        for (const p of d.id.properties) names.push(p.key.name);
      }
    }
  }
  return names;
}
function memberUses(ast) {
  const uses = [];
  (function walk(n) {
    if (!n || typeof n.type !== 'string') return;
    if (n.type === 'MemberExpression' && !n.computed && n.object.type === 'Identifier' && n.object.name === 'C') uses.push(n.property.name);
    for (const k of Object.keys(n)) {
      const c = n[k];
      if (Array.isArray(c)) c.forEach(walk);
      else if (c && typeof c.type === 'string') walk(c);
    }
  })(ast);
  return uses;
}

const parsed = new Map();
const exporter = new Map(); // name -> script
for (const f of order.filter((x) => onDisk.includes(x))) {
  const src = fs.readFileSync(path.join(web, f), 'utf8');
  let ast;
  try {
    ast = acorn.parse(src, { ecmaVersion: 'latest', sourceType: 'script', locations: true, ranges: true });
  } catch (e) {
    problem(f, `does not parse: ${e.message}`);
    continue;
  }
  parsed.set(f, ast);
  const scopes = eslintScope.analyze(ast, { ecmaVersion: 2022, sourceType: 'script' });
  for (const r of scopes.globalScope.through) {
    if (!GLOBALS.has(r.identifier.name)) problem(f, `line ${r.identifier.loc.start.line}: ${r.identifier.name} is defined nowhere it can see`);
  }
  for (const n of exportsOf(ast)) {
    if (exporter.has(n)) problem(f, `exports ${n}, as ${exporter.get(n)} does`);
    else exporter.set(n, f);
  }
}
for (const [f, ast] of parsed) {
  for (const n of importsOf(ast)) {
    const from = exporter.get(n);
    if (!from) problem(f, `takes ${n}, which no script exports`);
    else if (order.indexOf(from) >= order.indexOf(f)) problem(f, `takes ${n} at load from ${from}, which is loaded later (use C.${n})`);
  }
  for (const n of new Set(memberUses(ast))) if (!exporter.has(n)) problem(f, `uses C.${n}, which no script exports`);
}

const all = [...new Set([...order, ...onDisk])];
let failed = 0;
for (const f of all) {
  const p = problems.get(f);
  if (p) { failed++; for (const t of p) console.log(`FAIL ${f}: ${t}`); } else console.log(`ok   ${f}`);
}
console.log(`${all.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
