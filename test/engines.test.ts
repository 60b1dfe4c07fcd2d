/**
 * `engines.node` in package.json is honest: every installed package (runtime and test) either supports that Node
 * version by its own declaration, or is a known exception that is shown to load on the running Node. The known
 * exceptions are ESM-only packages declaring Node >= 22 that load through require(esm), on by default since Node
 * 20.19; a new dependency that wants a newer Node fails here instead of surprising a user with EBADENGINE.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Packages allowed to declare a higher minimum than ours, and why they still work. */
const KNOWN: Record<string, string> = {
  cookie: 'ESM-only; required by light-my-request (fastify inject, tests); loads via require(esm) on Node >= 20.19',
  'content-disposition': 'ESM-only v3; required by @fastify/static (Swagger UI); loads via require(esm) on Node >= 20.19',
};

type Version = [number, number, number];
const compare = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** The lowest version a simple npm range admits (>=, ^, ~, x-ranges, ||); null when it cannot tell. */
export function minimum(range: string): Version | null {
  let lowest: Version | null = null;
  for (const alternative of range.split('||')) {
    const m = /^\s*(?:>=|\^|~|=)?\s*v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?/.exec(alternative);
    const bound: Version | null = m ? [Number(m[1]), Number(m[2]) || 0, Number(m[3]) || 0]
      : /^\s*<|^\s*\*?\s*$/.test(alternative) ? [0, 0, 0] : null;
    if (bound === null) return null;
    if (lowest === null || compare(bound, lowest) < 0) lowest = bound;
  }
  return lowest;
}

/** Every installed package directory under `dir/node_modules`, nested ones included. */
function packages(dir: string, out: string[] = []): string[] {
  const modules = path.join(dir, 'node_modules');
  if (!fs.existsSync(modules)) return out;
  for (const entry of fs.readdirSync(modules)) {
    if (entry.startsWith('.')) continue;
    const names = entry.startsWith('@') ? fs.readdirSync(path.join(modules, entry)).map((n) => path.join(entry, n)) : [entry];
    for (const name of names) {
      const pkgDir = path.join(modules, name);
      if (!fs.existsSync(path.join(pkgDir, 'package.json'))) continue;
      out.push(pkgDir);
      packages(pkgDir, out);
    }
  }
  return out;
}

test('every dependency supports the Node version package.json promises, or is a known exception that loads', () => {
  const ours = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).engines.node as string;
  const floor = minimum(ours)!;
  assert.ok(compare([...process.versions.node.split('.').map(Number)] as Version, floor) >= 0, `running Node is below ${ours}`);
  const unexplained: string[] = [];
  const exceptions: string[] = [];
  for (const pkgDir of packages(ROOT)) {
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { name?: string; version?: string; engines?: { node?: string } };
    const wanted = pkg.engines?.node;
    if (!pkg.name || typeof wanted !== 'string') continue;
    const min = minimum(wanted);
    if (min !== null && compare(min, floor) <= 0) continue;
    if (KNOWN[pkg.name] === undefined) {
      unexplained.push(`${pkg.name}@${pkg.version} wants node ${wanted}`);
      continue;
    }
    // Load it the way its dependent does: from the directory that holds this node_modules.
    const dependent = path.dirname(path.dirname(pkg.name.startsWith('@') ? path.dirname(pkgDir) : pkgDir));
    const loaded = createRequire(path.join(dependent, 'index.js'))(pkg.name) as object;
    assert.ok(Object.keys(loaded).length > 0, `${pkg.name} loaded nothing`);
    exceptions.push(pkg.name);
  }
  assert.deepEqual(unexplained, [], `raise engines.node (${ours}) or explain these in KNOWN`);
  assert.ok(exceptions.length > 0, 'the known exceptions are installed (else remove them from KNOWN)');
});

test('minimum() reads the range forms npm packages use', () => {
  assert.deepEqual(minimum('>=20.19'), [20, 19, 0]);
  assert.deepEqual(minimum('>= 0.6'), [0, 6, 0]);
  assert.deepEqual(minimum('20.x || 22.x || 24.x'), [20, 0, 0]);
  assert.deepEqual(minimum('^14.21.3 || >=16'), [14, 21, 3]);
  assert.deepEqual(minimum('>=22'), [22, 0, 0]);
  assert.equal(minimum('latest'), null);
});
