/**
 * ProtocolRegistry tests: registration rules, the union of classes, which protocols a rule's match keys fit, init
 * of every protocol once, and the registry-built policy schema (classes of every protocol, keys of one).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { WardenError } from '../errors.js';
import { policySchemaFor } from '../policy/schema.js';
import { builtinProtocols } from '../protocols/builtin.js';
import { postgresProtocol } from '../protocols/postgres/definition.js';
import { createSshProtocol } from '../protocols/ssh/definition.js';
import type { ProtocolDefinition } from './protocol.js';
import { ProtocolRegistry } from './protocol-registry.js';

function fake(name: string, over: Partial<ProtocolDefinition> = {}): ProtocolDefinition {
  return {
    name, commandKind: 'request', classes: ['read'], targetSpec: z.strictObject({ url: z.string() }), secretFields: [],
    matchKeys: { verbs: z.array(z.string()).min(1) }, unitMatches: () => true,
    analyse: (command) => ({ units: [{ text: command.text, classes: ['read'], attributes: {} }], classes: ['read'] }),
    ...over,
  };
}

describe('ProtocolRegistry', () => {
  it('registers each protocol once and keeps common keys common', () => {
    const registry = new ProtocolRegistry([postgresProtocol]);
    assert.throws(() => registry.register(postgresProtocol), (err: unknown) => err instanceof WardenError
      && err.code === 'WARDEN_ERR_INTERNAL' && /registered twice/.test(err.message));
    assert.throws(() => registry.register(fake('bad', { matchKeys: { classes: z.array(z.string()) } })), /common match key "classes"/);
    assert.deepEqual(registry.names(), ['postgres']);
    assert.equal(registry.get('ssh'), undefined);
    assert.throws(() => registry.require('ssh'), /protocol "ssh" is not registered/);
  });

  it('classes are the union of every protocol\'s, in registration order', () => {
    const registry = builtinProtocols();
    assert.deepEqual(registry.names(), ['postgres', 'ssh', 'kubernetes', 'http']);
    assert.deepEqual(registry.classes(),
      ['read', 'write', 'ddl', 'destructive', 'privilege', 'admin', 'unknown', 'network', 'shell', 'forward', 'exec',
        'secrets']);
    registry.register(fake('mcp', { classes: ['read', 'mutate'] }));
    assert.ok(registry.classes().includes('mutate'), 'recomputed after a registration');
  });

  it('protocolsFor: no keys fit all, one protocol\'s keys fit it, mixed or unknown keys fit none', () => {
    const registry = builtinProtocols();
    const names = (match?: Record<string, unknown>) => registry.protocolsFor(match).map((d) => d.name);
    assert.deepEqual(names(undefined), ['postgres', 'ssh', 'kubernetes', 'http']);
    assert.deepEqual(names({ classes: ['read'] }), ['postgres', 'ssh', 'kubernetes', 'http']);
    assert.deepEqual(names({ tables: ['t'], unbounded: true }), ['postgres']);
    assert.deepEqual(names({ programs: ['rm'], paths: ['/etc/*'], classes: ['destructive'] }), ['ssh']);
    assert.deepEqual(names({ tables: ['t'], programs: ['rm'] }), []);
    assert.deepEqual(names({ verbs: ['get'], resources: ['core/pods'], namespaces: ['dev'], names: ['web-*'] }), ['kubernetes']);
    assert.deepEqual(names({ verbs: ['get'], programs: ['rm'] }), []);
    assert.deepEqual(names({ methods: ['GET'], paths: ['/v1/**'] }), ['http']);
    assert.deepEqual(names({ paths: ['/etc/**'] }), ['ssh', 'http'], 'a key two protocols own fits both');
    assert.deepEqual(names({ methods: ['GET'], programs: ['rm'] }), []);
    assert.deepEqual(names({ tools: ['x'] }), []);
  });

  it('init runs every protocol\'s init once, in order', async () => {
    const calls: string[] = [];
    const registry = new ProtocolRegistry([fake('a', { init: async () => void calls.push('a') }), fake('b'),
      fake('c', { init: async () => void calls.push('c') })]);
    await registry.init();
    assert.deepEqual(calls, ['a', 'c']);
  });

  it('builds the policy schema: any protocol\'s classes, one protocol\'s keys per rule', () => {
    const schema = policySchemaFor(builtinProtocols());
    const policy = (match: unknown) => ({ kind: 'Policy', name: 'p', rules: [{ name: 'r', effect: 'deny', match }] });
    assert.equal(schema.safeParse(policy({ classes: ['shell', 'ddl'] })).success, true, 'classes of both protocols');
    assert.equal(schema.safeParse(policy({ programs: ['rm'], paths: ['/var/*'] })).success, true);
    assert.equal(schema.safeParse(policy({ tables: ['t'], schemas: ['s'] })).success, true);
    const mixed = schema.safeParse(policy({ tables: ['t'], programs: ['rm'] }));
    assert.equal(mixed.success, false);
    assert.match(mixed.error!.issues[0].message, /mixes match keys of different protocols: tables \(postgres\), programs \(ssh\)/);
    assert.equal(schema.safeParse(policy({ programs: [] })).success, false, 'empty lists are refused');
    assert.equal(schema.safeParse(policy({ verbs: ['get'], resources: ['core/pods'] })).success, true, 'kubernetes keys');
    assert.equal(schema.safeParse(policy({ methods: ['GET'], paths: ['/v1/**'] })).success, true, 'http keys');
    assert.equal(schema.safeParse(policy({ tools: ['x'] })).success, false, 'keys no registered protocol has');
    const withMcp = builtinProtocols();
    withMcp.register(fake('mcp', { matchKeys: { tools: z.array(z.string()).min(1) } }));
    assert.equal(policySchemaFor(withMcp).safeParse(policy({ tools: ['x'] })).success, true, 'a new protocol brings its keys');
  });

  it('the ssh protocol classifies requests that are not shell text', () => {
    // Without a shell analyser (the one from src/analysis/shell is passed in by builtin.ts once merged).
    const sshProtocol = createSshProtocol();
    const at = (kind: string, text: string, attributes?: Record<string, string>) =>
      sshProtocol.analyse({ protocol: 'ssh', kind, text, ...(attributes ? { attributes } : {}) }, undefined);
    assert.deepEqual(at('shell', '').units[0].classes, ['shell']);
    const forward = at('forward', 'direct-tcpip db:5432', { host: 'db', port: '5432' });
    assert.deepEqual([forward.classes, forward.units[0].attributes], [['forward'], { destinations: ['db:5432'] }]);
    const sftp = at('subsystem', 'sftp');
    // No path when it opens: each request that opens or changes a path is judged on its own (ssh/sftp-policy.ts).
    assert.deepEqual([sftp.classes, sftp.units[0].attributes.paths], [['read', 'write'], []]);
    assert.deepEqual(at('subsystem', 'netconf').classes, ['unknown']);
    assert.deepEqual(at('x11', '').classes, ['unknown']);
    // No shell analyser given: exec and typed lines are unknown, never guessed.
    assert.deepEqual(at('exec', 'ls -l').classes, ['unknown']);
    assert.deepEqual(at('line', 'ls -l').parseError, 'the shell analyser is not installed');
  });
});
