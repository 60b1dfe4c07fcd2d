/**
 * The idle timeout of a policy (`session: { idleTimeout }`) on PostgreSQL sessions: a session with no traffic either
 * way for that long is ended with FATAL 57P01 naming why; a statement that runs longer than the timeout is not idle;
 * a subject the rule does not name keeps its session.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startStack, type Stack } from './harness/stack.js';

const POLICY = `kind: Policy
name: idle
rules:
  - name: everything
    effect: allow
  - name: short-for-agents
    subjects: { groups: [agents] }
    session: { idleTimeout: 2s }
`;

let stack: Stack;

before(async () => { stack = await startStack({ policy: POLICY }); });
after(async () => { await stack?.stop(); });

test('an idle session is ended with a message; a long statement is not idle; others keep their session', async () => {
  const script = "SELECT 'before';\nSELECT 'slow-' || pg_sleep(3)::text || 'ok';\n\\! sleep 5\nSELECT 'after';\n";
  const bot = await stack.psql([], { user: 'bot', token: await stack.token('bot', '--groups', 'agents'), stdin: script });
  assert.match(bot.stdout, /before/);
  assert.match(bot.stdout, /slow-ok/, 'a statement running longer than the timeout is not idle');
  assert.doesNotMatch(bot.stdout, /after/);
  assert.match(bot.stderr, /terminating connection: idle for 2 s/);
  const alice = await stack.psql([], { user: 'alice', token: await stack.token('alice'), stdin: script });
  assert.equal(alice.code, 0, alice.stderr);
  assert.match(alice.stdout, /after/);
});
