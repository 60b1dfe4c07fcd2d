/**
 * Differential test of the URL reading against Go itself (the Kubernetes API server is a Go net/http server): for
 * thousands of generated request targets, whenever Warden accepts one, Go's net/http must accept it too, split the
 * decoded path into exactly Warden's segments (as the request-info resolver splits it) and read exactly Warden's
 * query parameters without dropping any. Whatever Warden refuses needs no agreement (refusing is always safe).
 * Needs the `go` toolchain (.ci/run installs golang-go); the oracle is testdata/go-url.go.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { prng } from '../../masking/test-random.js';
import { decodeTarget } from './url.js';

const PIECES = ['/', '/', '/', 'api', 'apis', 'v1', 'namespaces', 'prod', 'pods', 'secrets', 'watch', '..', '.', '%2F', '%2f',
  '%2E', '%2e%2e', '%00', '%', '%zz', '%C3%A9', '%ff', '%20', '%3F', '%23', '%25', '?', '?', '&', '=', ';', '+', '#', '\\',
  'é', 'command=', 'watch=1', 'fieldSelector=metadata.name%3Dx', ',', '!', '*', '~', '@', ':', "'", '(', '$', '%2B', 'a+b'];

let dir: string;
let binary: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'warden-go-url-'));
  binary = path.join(dir, 'go-url');
  const source = fileURLToPath(new URL('./testdata/go-url.go', import.meta.url));
  // Go needs a build cache: its default lives under HOME; without one, a fixed directory keeps later runs fast.
  const cache = process.env.GOCACHE ?? (process.env.HOME || process.env.XDG_CACHE_HOME ? undefined : path.join(tmpdir(), 'warden-go-cache'));
  const env = { ...process.env, GOFLAGS: '', GO111MODULE: 'off', ...(cache !== undefined ? { GOCACHE: cache } : {}) };
  const built = spawnSync('go', ['build', '-o', binary, source], { encoding: 'utf8', env });
  assert.equal(built.status, 0, `go build failed (is golang-go installed?): ${built.error ?? ''}${built.stderr}`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface GoAnswer { ok: boolean; segments: string[] | null; query: Record<string, string[]> | null; queryErr: boolean }

function askGo(targets: string[]): GoAnswer[] {
  const run = spawnSync(binary, [], { input: targets.map((t) => JSON.stringify(t)).join('\n') + '\n', encoding: 'utf8',
    maxBuffer: 1 << 28 });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line) as GoAnswer);
}

function generate(count: number, seed: number): string[] {
  const random = prng(seed);
  const targets: string[] = [];
  for (let i = 0; i < count; i++) {
    let target = '/';
    const length = 1 + Math.floor(random() * 12);
    for (let k = 0; k < length; k++) target += PIECES[Math.floor(random() * PIECES.length)];
    targets.push(target);
  }
  return targets;
}

describe('URL reading agrees with Go net/http', () => {
  it('every target Warden accepts, Go reads into the same segments and query', () => {
    const targets = [...generate(6_000, 5), '/api/v1/namespaces/kube%2Dsystem/pods/a%3Ab', '/version',
      '/api/v1/namespaces/a/pods/p/exec?command=sh&command=-c&command=echo+a%26b%3Bc&&stdin=true', '/?',
      '/api/v1/pods?watch&watch=0', '/api/v1/pods?=x&a==b'];
    const answers = askGo(targets);
    assert.equal(answers.length, targets.length);
    let accepted = 0;
    for (const [i, target] of targets.entries()) {
      const ours = decodeTarget(target);
      if (!ours.ok) continue;
      accepted++;
      const go = answers[i];
      assert.ok(go.ok, `Go refuses what Warden accepts: ${JSON.stringify(target)}`);
      assert.deepEqual(go.segments, ours.target.segments, `segments of ${JSON.stringify(target)}`);
      assert.equal(go.queryErr, false, `Go drops a query pair Warden read: ${JSON.stringify(target)}`);
      assert.deepEqual(go.query, Object.fromEntries(ours.target.query), `query of ${JSON.stringify(target)}`);
    }
    assert.ok(accepted > 500, `only ${accepted} generated targets were accepted: the generator tests too little`);
  });
});
