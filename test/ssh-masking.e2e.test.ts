/**
 * Content masking on SSH output: a detector rule for the target masks exec output and PTY output, also when the
 * value is split over two packets (the program writes half, sleeps, writes the rest), and leaves other text alone.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ClientChannel } from 'ssh2';
import { execSsh2, startSshStack, type SshStack } from './harness/ssh-stack.js';

const POLICY = `kind: Policy
name: ssh-masking
rules:
  - name: everything
    match: { classes: [read, write, network, privilege, unknown, shell] }
    effect: allow
  - name: cards
    mask:
      - detectors: [card]
        strategy: redact
`;

let stack: SshStack;
let token: string;
const CARD_HALVES = ['4111 1111', ' 1111 1111'];

before(async () => {
  stack = await startSshStack({ policy: POLICY });
  token = await stack.token('alice');
});
after(async () => { await stack?.stop(); });

test('a card number split over two packets of exec output is masked, other text is not', async () => {
  const client = await stack.connect('alice:web-1', { password: token });
  try {
    const r = await execSsh2(client, `printf 'card: ${CARD_HALVES[0]}'; sleep 0.3; printf '${CARD_HALVES[1]} end\\n'; echo plain-text >&2`);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'card: [REDACTED] end\n');
    assert.equal(r.stderr, 'plain-text\n');
  } finally {
    client.end();
  }
});

test('PTY output is masked too', async () => {
  const client = await stack.connect('alice:web-1', { password: token });
  try {
    const shell = await new Promise<ClientChannel>((resolve, reject) =>
      client.shell({ rows: 24, cols: 100, term: 'xterm' }, (err, s) => (err ? reject(err) : resolve(s))));
    let screen = '';
    shell.on('data', (d: Buffer) => (screen += d));
    shell.write(`printf '%s%s\\n' '${CARD_HALVES[0]}' '${CARD_HALVES[1]}' | tr -d x; echo done-$((1+1))\r`);
    for (let i = 0; i < 200 && !/done-2/.test(screen); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(screen, /done-2/);
    // The typed command line echoes the halves apart (not a card); the printed number must not appear whole.
    assert.doesNotMatch(screen, /4111 1111 1111 1111/);
    assert.match(screen, /\[REDACTED\]/);
    shell.end('exit\r');
  } finally {
    client.end();
  }
});
