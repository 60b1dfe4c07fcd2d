/**
 * Fuzz-style properties of the Kubernetes request analyser: random URL-looking token soups, random bytes and
 * mutations of real requests never throw and always give one unit with known classes; an unparsed request is
 * exactly `unknown`; whatever parses has one reading (re-encoding its segments gives back a path of the same
 * segments) and never holds `.`/`..`/empty segments or a `/` inside a segment. Seeded, so failures reproduce.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prng } from '../../masking/test-random.js';
import { KUBE_CLASSES } from '../../protocols/kubernetes/definition.js';
import { analyseKubeRequest } from './analyse.js';
import { parseRequestInfo } from './request-info.js';

const TOKENS = ['/', '/', '/', 'api', 'apis', 'v1', 'apps', 'namespaces', 'prod', 'pods', 'secrets', 'watch', 'proxy',
  'exec', 'log', 'status', 'scale', 'finalize', 'token', '..', '.', '%2F', '%2f', '%2E', '%2e%2e', '%00', '%', '%zz', '%C3%A9',
  '%ff', '?', '&', '=', ';', '+', '#', ' ', '\\', '\0', '\n', 'é', 'command=', 'watch=1', 'watch=false', 'fieldSelector=',
  'metadata.name%3Dx', ',', '!', '*', '~', '@', ':'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'get', 'CONNECT', '', 'G T'];
const BODIES: Array<Record<string, string>> = [{}, { body: '{"spec":{"replicas":0}}' }, { body: '[{"op":"remove","path":""}]' },
  { body: 'not json' }, { bodyUnread: 'true' }, { impersonate: 'Impersonate-User: admin' }, { body: '{"a":' }];

function check(method: string, target: string, facts: Record<string, string>): void {
  const text = `${method} ${target}`;
  let analysis;
  try {
    analysis = analyseKubeRequest(text, facts, () => ({ units: [], classes: ['read'] }));
  } catch (err) {
    assert.fail(`threw for ${JSON.stringify(text)}: ${String(err)}`);
  }
  assert.equal(analysis.units.length, 1, JSON.stringify(text));
  const [unit] = analysis.units;
  assert.ok(unit.classes.length > 0);
  for (const cls of unit.classes) assert.ok((KUBE_CLASSES as readonly string[]).includes(cls), cls);
  assert.deepEqual(analysis.classes, unit.classes);
  if (analysis.parseError !== undefined) assert.deepEqual(analysis.classes, ['unknown']);
  const parsed = parseRequestInfo(method, target);
  if (!parsed.ok) {
    if (method !== '') assert.ok(analysis.parseError !== undefined, `${JSON.stringify(text)} parsed differently`);
    return;
  }
  for (const segment of parsed.info.segments) {
    assert.ok(segment !== '' && segment !== '.' && segment !== '..' && !segment.includes('/'), JSON.stringify(target));
  }
  const reencoded = `/${parsed.info.segments.map(encodeURIComponent).join('/')}`;
  const again = parseRequestInfo(method, reencoded);
  assert.ok(again.ok && again.info.segments.join('\u0001') === parsed.info.segments.join('\u0001'), JSON.stringify(target));
}

describe('kubernetes request analyser fuzz', () => {
  it('never throws on token soups', () => {
    const random = prng(13);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    for (let i = 0; i < 20_000; i++) {
      const length = 1 + Math.floor(random() * 14);
      let target = random() < 0.9 ? '/' : '';
      for (let k = 0; k < length; k++) target += pick(TOKENS);
      check(pick(METHODS), target, pick(BODIES));
    }
  });

  it('never throws on random characters', () => {
    const random = prng(7);
    for (let i = 0; i < 5_000; i++) {
      let target = '/';
      const length = Math.floor(random() * 40);
      for (let k = 0; k < length; k++) target += String.fromCharCode(Math.floor(random() * (random() < 0.9 ? 128 : 0xffff)));
      check('GET', target, {});
    }
  });

  it('never throws on mutations of real requests', () => {
    const random = prng(21);
    const seeds = ['/api/v1/namespaces/prod/pods/web/exec?command=rm&command=-rf&command=/',
      '/apis/apps/v1/namespaces/prod/deployments/web/scale', '/api/v1/watch/namespaces/prod/secrets?fieldSelector=metadata.name%3Ddb'];
    for (let i = 0; i < 10_000; i++) {
      const chars = [...seeds[i % seeds.length]];
      const edits = 1 + Math.floor(random() * 4);
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(random() * chars.length);
        const op = random();
        if (op < 0.4) chars.splice(at, 1);
        else if (op < 0.8) chars.splice(at, 0, TOKENS[Math.floor(random() * TOKENS.length)]);
        else chars[at] = String.fromCharCode(32 + Math.floor(random() * 95));
      }
      check(random() < 0.5 ? 'GET' : 'PATCH', chars.join(''), BODIES[i % BODIES.length]);
    }
  });
});
