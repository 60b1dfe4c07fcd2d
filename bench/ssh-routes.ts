/**
 * The three ways bench/ssh.ts reaches the same sshd: `direct`; `warden` (through Warden, token by SSH_ASKPASS, the
 * test target `web-1`); and `jump`, the peer: OpenSSH itself used as a jump host (`ssh -J` through a second real
 * sshd), which is what people do without Warden. Each route gives the scp command line, the CPU roots of the
 * processes it adds (the sshd session processes of the jump host, Warden), and a logged-in ssh2 client for execs.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'ssh2';
import { connectSsh2, type SshStack } from '../test/harness/ssh-stack.js';
import type { SshServer } from '../test/harness/sshd.js';

/** One way to the target. */
export interface Route {
  name: 'direct' | 'warden' | 'jump';
  /** The scp command line copying `from` to `to` (`REMOTE:` marks the remote side). */
  scp(from: string, to: string): { args: string[]; env: NodeJS.ProcessEnv };
  /** An ssh2 client logged in to the target through this route. */
  connect(): Promise<Client>;
}

/** Where the routes' servers run, for the CPU sampler. */
export interface RoutePids {
  sshd?: number;
  jump?: number;
  warden?: number;
}

const REMOTE = 'REMOTE:';

/** The routes over a running stack and a second sshd used as the jump host. */
export async function makeRoutes(stack: SshStack, jump: SshServer, token: string): Promise<{ routes: Route[]; pids: RoutePids }> {
  const { sshd } = stack;
  const user = sshd.account.user;
  // One OpenSSH config for direct and jump: -J hands -F on to the ssh it starts for the jump host.
  const config = path.join(stack.tempDir, 'bench_ssh_config');
  await fs.writeFile(config, ['Host *', `  IdentityFile ${sshd.account.privateKeyFile}`, '  IdentitiesOnly yes',
    '  StrictHostKeyChecking no', '  UserKnownHostsFile /dev/null', '  GlobalKnownHostsFile /dev/null', '  LogLevel ERROR',
    '  BatchMode yes', ''].join('\n'));
  const remote = (arg: string, prefix: string) => (arg.startsWith(REMOTE) ? `${prefix}@127.0.0.1:${arg.slice(REMOTE.length)}` : arg);
  const key = { privateKey: sshd.account.privateKey };
  const routes: Route[] = [
    {
      name: 'direct',
      scp: (from, to) => ({ args: ['-q', '-F', config, '-P', String(sshd.port), remote(from, user), remote(to, user)], env: process.env }),
      connect: () => connectSsh2(sshd.port, user, key),
    },
    {
      name: 'warden',
      scp: (from, to) => ({
        args: ['-q', '-P', String(stack.warden.ports.ssh), ...stack.sshOptions(), remote(from, 'bench@web-1'), remote(to, 'bench@web-1')],
        env: { ...process.env, SSH_ASKPASS: path.join(stack.tempDir, 'askpass.sh'), SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', WARDEN_SSH_TOKEN: token },
      }),
      connect: () => connectSsh2(stack.warden.ports.ssh, 'bench:web-1', { password: token }),
    },
    {
      name: 'jump',
      scp: (from, to) => ({
        args: ['-q', '-F', config, '-J', `${user}@127.0.0.1:${jump.port}`, '-P', String(sshd.port), remote(from, user), remote(to, user)],
        env: process.env,
      }),
      connect: () => connectThroughJump(jump, sshd, key),
    },
  ];
  return { routes, pids: { sshd: await pidOf(sshd), jump: await pidOf(jump), warden: stack.warden.child.pid } };
}

/** An ssh2 client to `target` over a direct-tcpip channel of a client logged in to `jump` (what ProxyJump does). */
async function connectThroughJump(jump: SshServer, target: SshServer, auth: { privateKey: string }): Promise<Client> {
  const hop = await connectSsh2(jump.port, jump.account.user, auth);
  const sock = await new Promise<NodeJS.ReadWriteStream>((resolve, reject) => {
    hop.forwardOut('127.0.0.1', 0, '127.0.0.1', target.port, (err, channel) => (err ? reject(err) : resolve(channel)));
  });
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({ sock: sock as never, username: target.account.user, readyTimeout: 20_000, ...auth });
  });
  client.removeAllListeners('error');
  client.on('error', () => {});
  client.on('close', () => hop.end());
  return client;
}

async function pidOf(server: SshServer): Promise<number | undefined> {
  try {
    return Number((await fs.readFile(path.join(server.tempDir, 'sshd.pid'), 'utf8')).trim());
  } catch {
    return undefined;
  }
}
