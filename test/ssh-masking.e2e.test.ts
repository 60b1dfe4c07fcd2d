/**
 * Content masking on SSH output: a detector rule for the target masks exec output and PTY output, also when the
 * value is split over two packets (the program writes half, sleeps, writes the rest), and leaves other text alone.
 * On a terminal, where held output is released after a short quiet spell, a program that prints a card number one
 * digit at a time with pauses shows `*`s: neither the caller nor the recording ever holds one of its digits.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
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

test('a card number printed digit by digit with pauses on a terminal never shows a digit, live or recorded', async () => {
  // The script is written by exec (its output is not a terminal's), so nothing typed in the shell holds a digit.
  const name = `slowcard-${randomBytes(6).toString('base64url').replace(/[^A-Za-z]/g, 'q')}.sh`;
  const file = path.join(stack.sshd.account.home, name);
  const carol = await stack.token('carol');
  const client = await stack.connect('carol:web-1', { password: carol });
  try {
    const script = "printf 'card: '; for d in 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1; do printf %s \"$d\"; sleep 0.15; done; printf '\\nfinished\\n'\n";
    assert.equal((await execSsh2(client, `cat > ${name}`, { stdin: script })).code, 0);
    const shell = await new Promise<ClientChannel>((resolve, reject) =>
      client.shell({ rows: 24, cols: 100, term: 'xterm' }, (err, s) => (err ? reject(err) : resolve(s))));
    let screen = '';
    shell.on('data', (d: Buffer) => (screen += d));
    const closed = new Promise<void>((resolve) => shell.on('close', () => resolve()));
    shell.write(`sh ${name}\r`);
    for (let i = 0; i < 300 && !/finished/.test(screen); i++) await new Promise((r) => setTimeout(r, 50));
    const printed = /card: ([^\r\n]*)\r?\nfinished/.exec(screen);
    assert.ok(printed, screen);
    assert.equal(printed[1], '*'.repeat(16));
    shell.write('exit\r');
    await closed;
  } finally {
    client.end();
    await fs.rm(file, { force: true });
  }
  const list = await stack.warden.cli(['sessions', 'list', '--json', '--subject', 'carol']);
  const [session] = JSON.parse(list.stdout) as { id: string }[];
  let cast = '';
  for (let i = 0; i < 100 && !cast.includes('finished'); i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    cast = (await stack.warden.cli(['sessions', 'replay', session.id])).stdout;
  }
  const output = cast.trim().split('\n').slice(1).map((line) => JSON.parse(line) as [number, string, string])
    .filter((e) => e[1] === 'o').map((e) => e[2]).join('');
  assert.match(output, /card: \*{16}\r?\nfinished/);
  assert.doesNotMatch(output.slice(output.indexOf('card: ')), /card: [^\r\n]*\d/);
});
