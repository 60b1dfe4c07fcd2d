/**
 * SSH through Warden, end to end with real parts: a real sshd behind a real Warden process, driven by the real
 * OpenSSH client (token through SSH_ASKPASS, Warden's host key pinned) and by ssh2 as a client. Covers the login
 * (both user-name forms, wrong token, unknown target: nothing reaches the host), exec with exit codes and signals,
 * a PTY shell with window changes, the env allow-list, and bad input before and during the login.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ClientChannel } from 'ssh2';
import { execSsh2, startSshStack, type SshStack } from './harness/ssh-stack.js';

let stack: SshStack;
let token: string;
const sshdConnections = (): number => (stack.sshd.log().match(/Connection from 127\.0\.0\.1/g) ?? []).length;

before(async () => {
  stack = await startSshStack({ wardenArgs: ['--login-timeout', '3'] });
  token = await stack.token('alice');
});
after(async () => { await stack?.stop(); });

describe('login', () => {
  test('Warden prints its host key fingerprint at start-up, and ssh pins it', () => {
    assert.match(stack.wardenFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  test('alice:web-1 runs a command on the target and gets its exit code', async () => {
    const r = await stack.run('ssh', ['alice:web-1@127.0.0.1', 'id -un; echo to-stderr >&2; exit 3'], { token });
    assert.equal(r.stdout.trim(), stack.sshd.account.user, r.stderr);
    assert.match(r.stderr, /to-stderr/);
    assert.equal(r.code, 3);
  });

  test('alice@web-1 (for tools that read host:path) works the same', async () => {
    const r = await stack.run('ssh', ['-l', 'alice@web-1', '127.0.0.1', 'echo ok'], { token });
    assert.equal(r.stdout, 'ok\n', r.stderr);
    assert.equal(r.code, 0);
  });

  test('a wrong token is refused with a clear message, and no connection reaches the host', async () => {
    const before = sshdConnections();
    const r = await stack.run('ssh', ['alice:web-1@127.0.0.1', 'echo never'], { token: `${token.slice(0, -4)}AAAA` });
    assert.equal(r.code, 255);
    assert.doesNotMatch(r.stdout, /never/);
    assert.match(r.stderr, /warden: .*token/i);
    assert.equal(sshdConnections(), before);
  });

  test('an unknown target is an authentication failure naming it, and nothing reaches any host', async () => {
    const before = sshdConnections();
    const r = await stack.run('ssh', ['alice:nope@127.0.0.1', 'echo never'], { token });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /target "nope" does not exist/);
    assert.equal(sshdConnections(), before);
  });

  test('a user name without a target says how to name one', async () => {
    const r = await stack.run('ssh', ['alice@127.0.0.1', 'true'], { token });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /USER:TARGET/);
  });

  test('a token of another user is refused', async () => {
    const r = await stack.run('ssh', ['bob:web-1@127.0.0.1', 'true'], { token });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /not issued to user "bob"/);
  });

  test('the token never appears in Warden\'s output', () => {
    const { stdout, stderr } = stack.warden.output();
    assert.equal(stdout.includes(token) || stderr.includes(token), false);
  });
});

describe('exec and shells through ssh2', () => {
  test('exec passes stdin, stdout, stderr and the exit status', async () => {
    const client = await stack.connect('alice:web-1', { password: token });
    try {
      const r = await execSsh2(client, 'cat; echo err >&2; exit 42', { stdin: 'from-stdin' });
      assert.deepEqual(r, { stdout: 'from-stdin', stderr: 'err\n', code: 42, signal: undefined });
    } finally {
      client.end();
    }
  });

  test('every short exec reports its exit status (open, exit and close can come in one batch)', async () => {
    const client = await stack.connect('alice:web-1', { password: token });
    try {
      const codes: (number | null)[] = [];
      for (let i = 0; i < 100; i++) codes.push((await execSsh2(client, `exit ${i % 3}`)).code);
      assert.deepEqual(codes, Array.from({ length: 100 }, (_, i) => i % 3));
    } finally {
      client.end();
    }
  });

  test('a program killed by a signal reports the signal', async () => {
    const client = await stack.connect('alice:web-1', { password: token });
    try {
      const r = await execSsh2(client, 'kill -TERM $$');
      assert.equal(r.code, null);
      assert.equal(r.signal, 'SIGTERM'); // ssh2 as a client spells the wire's TERM with SIG
    } finally {
      client.end();
    }
  });

  test('a signal request reaches the remote program', async () => {
    const client = await stack.connect('alice:web-1', { password: token });
    try {
      const r = await new Promise<{ code: number | null; signal?: string; out: string }>((resolve, reject) => {
        client.exec('trap "echo got-usr1; exit 9" USR1; echo ready; while :; do sleep 0.1; done', (err, stream) => {
          if (err) return reject(err);
          let out = '';
          let code: number | null = null;
          let signal: string | undefined;
          stream.on('data', (d: Buffer) => {
            out += d;
            if (out === 'ready\n') stream.signal('USR1');
          });
          stream.on('exit', (c: number | null, s?: string) => { code = c; signal = s; });
          stream.on('close', () => resolve({ code, signal, out }));
        });
      });
      assert.equal(r.out, 'ready\ngot-usr1\n');
      assert.equal(r.code, 9);
    } finally {
      client.end();
    }
  });

  test('env: LANG passes, other variables are refused', async () => {
    const client = await stack.connect('alice:web-1', { password: token });
    try {
      const r = await new Promise<string>((resolve, reject) => {
        client.exec('echo "lang=$LANG test=$WARDEN_TEST_X"', { env: { LANG: 'C.UTF-8', WARDEN_TEST_X: 'leaked' } }, (err, stream) => {
          if (err) return reject(err);
          let out = '';
          stream.on('data', (d: Buffer) => (out += d)).on('close', () => resolve(out));
        });
      });
      assert.equal(r, 'lang=C.UTF-8 test=\n');
    } finally {
      client.end();
    }
  });

  test('a PTY shell follows window changes and returns the exit status', async () => {
    const client = await stack.connect('alice:web-1', { password: token });
    try {
      const shell = await new Promise<ClientChannel>((resolve, reject) => {
        client.shell({ rows: 24, cols: 80, term: 'xterm' }, (err, stream) => (err ? reject(err) : resolve(stream)));
      });
      let screen = '';
      shell.on('data', (d: Buffer) => (screen += d));
      const exit = new Promise<number | null>((resolve) => shell.on('exit', (c: number | null) => resolve(c)));
      const waitFor = async (re: RegExp) => {
        while (!re.test(screen)) await new Promise((r) => setTimeout(r, 20));
      };
      shell.write('stty size\r');
      await waitFor(/24 80/);
      shell.setWindow(40, 120, 0, 0);
      shell.write('stty size\r');
      await waitFor(/40 120/);
      shell.write('exit 5\r');
      assert.equal(await exit, 5);
    } finally {
      client.end();
    }
  });
});

describe('recording', () => {
  test('a PTY shell is recorded as asciicast v2 that replays what the caller saw, with its resizes', async () => {
    const recToken = await stack.token('rita');
    const client = await stack.connect('rita:web-1', { password: recToken });
    let screen = '';
    try {
      const shell = await new Promise<ClientChannel>((resolve, reject) => {
        client.shell({ rows: 30, cols: 100, term: 'xterm' }, (err, stream) => (err ? reject(err) : resolve(stream)));
      });
      shell.on('data', (d: Buffer) => (screen += d));
      const closed = new Promise<void>((resolve) => shell.on('close', () => resolve()));
      shell.write('echo replay-$((6*7))\r');
      while (!/replay-42/.test(screen)) await new Promise((r) => setTimeout(r, 20));
      shell.setWindow(33, 101, 0, 0);
      shell.write('exit\r');
      await closed;
    } finally {
      client.end();
    }
    const list = await stack.warden.cli(['sessions', 'list', '--json', '--subject', 'rita']);
    const [session] = JSON.parse(list.stdout) as { id: string; endedAt: string | null }[];
    let cast = '';
    // The recorder writes in batches: read until the last batch (with the resize) is stored.
    for (let i = 0; i < 100 && !cast.includes('101x33'); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      cast = (await stack.warden.cli(['sessions', 'replay', session.id])).stdout;
    }
    const [header, ...events] = cast.trim().split('\n').map((line) => JSON.parse(line) as unknown);
    assert.equal((header as { version: number }).version, 2);
    assert.equal((header as { width: number }).width, 100);
    assert.equal((header as { height: number }).height, 30);
    const output = (events as [number, string, string][]).filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    assert.match(output, /replay-42/);
    assert.ok((events as [number, string, string][]).some((e) => e[1] === 'r' && e[2] === '101x33'), cast);
  });
});

describe('bad input', () => {
  test('garbage before the banner is dropped and Warden goes on serving', async () => {
    const closed = await new Promise<string>((resolve) => {
      const socket = net.connect(stack.warden.ports.ssh, '127.0.0.1');
      let got = '';
      socket.on('data', (d) => (got += d));
      socket.on('error', () => {});
      socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(50)));
      socket.on('close', () => resolve(got));
    });
    assert.match(closed, /^SSH-2\.0-Warden/);
    const r = await stack.run('ssh', ['alice:web-1@127.0.0.1', 'echo still-up'], { token });
    assert.equal(r.stdout, 'still-up\n', r.stderr);
  });

  test('a client that never authenticates is disconnected at the login timeout', async () => {
    await new Promise<void>((resolve) => {
      const socket = net.connect(stack.warden.ports.ssh, '127.0.0.1');
      socket.on('error', () => {});
      socket.resume(); // read (and drop) what Warden sends, so its close is seen
      socket.on('connect', () => socket.write('SSH-2.0-Stalling\r\n'));
      socket.on('close', () => resolve());
    });
  });

  test('an oversized packet ends that connection only', async () => {
    await new Promise<void>((resolve) => {
      const socket = net.connect(stack.warden.ports.ssh, '127.0.0.1');
      socket.on('error', () => {});
      socket.resume();
      socket.on('connect', () => {
        socket.write('SSH-2.0-Big\r\n');
        const header = Buffer.alloc(5);
        header.writeUInt32BE(0x7fffffff, 0);
        socket.write(header);
        socket.write(Buffer.alloc(65536, 1));
      });
      socket.on('close', () => resolve());
    });
    const r = await stack.run('ssh', ['alice:web-1@127.0.0.1', 'echo fine'], { token });
    assert.equal(r.stdout, 'fine\n', r.stderr);
  });
});
