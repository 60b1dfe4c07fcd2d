/**
 * Failed SSH logins are rate-limited per source: past the limit even the right token is refused (with a message
 * saying why) until the window passes, while a session that was already open goes on working. Its own Warden, since
 * every test here shares the source address 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from 'ssh2';
import { execSsh2, startSshStack, type SshStack } from './harness/ssh-stack.js';

let stack: SshStack;
let token: string;

before(async () => {
  stack = await startSshStack();
  token = await stack.token('alice');
});
after(async () => { await stack?.stop(); });

/** One login attempt with ssh2; resolves with the banners seen and whether it got in. */
function attempt(password: string): Promise<{ ok: boolean; banners: string }> {
  return new Promise((resolve) => {
    const client = new Client();
    let banners = '';
    client.on('banner', (text: string) => (banners += text));
    client.on('ready', () => { client.end(); resolve({ ok: true, banners }); });
    client.on('error', () => resolve({ ok: false, banners }));
    client.connect({ host: '127.0.0.1', port: stack.warden.ports.ssh, username: 'alice:web-1', password, readyTimeout: 20_000,
      tryKeyboard: false });
  });
}

test('many failed logins from one source are refused before the token is checked; open sessions go on', async () => {
  const open = await stack.connect('alice:web-1', { password: token });
  try {
    let limited: { ok: boolean; banners: string } | undefined;
    for (let i = 0; i < 40 && limited === undefined; i++) {
      const r = await attempt(`not-a-token-${i}`);
      assert.equal(r.ok, false);
      if (/too many failed logins/.test(r.banners)) limited = r;
    }
    assert.ok(limited, 'the source was never limited');
    const right = await attempt(token);
    assert.equal(right.ok, false, 'the right token is refused while the source is limited');
    assert.match(right.banners, /too many failed logins from your address/);
    const still = await execSsh2(open, 'echo still-open');
    assert.equal(still.stdout, 'still-open\n');
  } finally {
    open.end();
  }
});
