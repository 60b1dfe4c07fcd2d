/**
 * evaluate() across protocols: SSH match keys (`programs`, `paths`) with SQL's restrictive ("may touch") and
 * permissive ("only touches") semantics, attributes the analyser could not establish, rules written for another
 * protocol never applying, classes shared by every protocol, and the wording of a default deny per protocol.
 * Analyses are built by hand: these tests pin the policy contract, not a shell parser.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromSqlAnalysis, postgresProtocol } from '../protocols/postgres/definition.js';
import { sshProtocol } from '../protocols/ssh/definition.js';
import type { AnalysedUnit, Analysis } from '../session/protocol.js';
import type { SshTarget } from '../session/types.js';
import { evaluate, mayAccess, type EvaluateOptions } from './evaluate.js';
import { parsePolicyDocuments } from './load.js';
import type { Policy } from './schema.js';
import { analysis as sqlAnalysis, stmt, subject, target as pgTarget } from './test-fixtures.js';

const DENY: EvaluateOptions = { defaultEffect: 'deny' };
const web: SshTarget = { name: 'web-1', type: 'ssh', host: 'h', port: 22, user: 'deploy', hostKeyFingerprint: null, labels: {} };
const alice = subject({ id: 'alice', groups: ['ops'] });

function policies(...rules: object[]): Policy[] {
  return parsePolicyDocuments(JSON.stringify({ kind: 'Policy', name: 'p', rules }), 'json');
}

/** One simple command; `attributes` absent keys stay absent (not established by the analyser). */
function unit(classes: string[], attributes: Record<string, string[]>): AnalysedUnit {
  return { text: 'cmd', classes: [...classes].sort(), attributes };
}

function shell(...units: AnalysedUnit[]): Analysis {
  return { units, classes: [...new Set(units.flatMap((u) => u.classes))].sort() };
}

function onSsh(p: Policy[], a: Analysis, options = DENY) {
  return evaluate(p, { subject: alice, target: web, analysis: a, protocol: sshProtocol }, options);
}

describe('ssh programs', () => {
  const deny = policies({ name: 'no-rm', match: { programs: ['rm', '/usr/sbin/user*'] }, effect: 'deny' },
    { name: 'rest', effect: 'allow' });
  const cases: Array<[string[], 'deny' | 'allow']> = [
    [['rm'], 'deny'],
    [['/bin/rm'], 'deny'], // a path to rm is still rm
    [['mkfs'], 'allow'],
    [['/usr/sbin/useradd'], 'deny'],
    [['useradd'], 'deny'], // found through PATH: may be /usr/sbin/useradd
    [['/usr/local/bin/useradd'], 'allow'], // named with its directory: not the one the rule names
    [['ls', 'rm'], 'deny'], // any program of the command
    [['$CMD'], 'deny'], // an expansion may be any program
    [['rmdir'], 'allow'],
  ];
  for (const [programs, effect] of cases) {
    it(`restrictive: programs ${programs.join(' ')} -> ${effect}`, () => {
      assert.equal(onSsh(deny, shell(unit(['destructive'], { programs, paths: [] }))).effect, effect);
    });
  }

  it('permissive: an allow rule holds only when every program matches as written', () => {
    const allow = policies({ name: 'reads', match: { programs: ['ls', 'cat', 'grep'] }, effect: 'allow' });
    const decide = (programs: string[]) => onSsh(allow, shell(unit(['read'], { programs, paths: [] }))).effect;
    assert.equal(decide(['ls']), 'allow');
    assert.equal(decide(['cat', 'grep']), 'allow');
    assert.equal(decide(['cat', 'rm']), 'deny');
    assert.equal(decide(['/tmp/ls']), 'deny', 'a program elsewhere is not the allowed one');
    assert.equal(decide([]), 'deny', 'at least one program');
    assert.equal(onSsh(allow, shell(unit(['read'], { paths: [] }))).effect, 'deny', 'programs not established');
  });
});

describe('ssh paths', () => {
  const guard = policies(
    { name: 'pg-data', match: { paths: ['/var/lib/postgresql*'] }, effect: 'require_approval', approvers: { groups: ['dba'] } },
    { name: 'rest', effect: 'allow' },
  );
  const cases: Array<[string[] | undefined, 'require_approval' | 'allow']> = [
    [['/var/lib/postgresql'], 'require_approval'],
    [['/var/lib/postgresql/16/main'], 'require_approval'],
    [['/tmp/../var/lib/postgresql/x'], 'require_approval'], // normalised first
    [['//var//lib/postgresql'], 'require_approval'],
    [['/var/lib/mysql'], 'allow'],
    [['16/main/base'], 'require_approval'], // relative: the working directory may be /var/lib/postgresql
    [['~/notes.txt'], 'require_approval'], // the home directory may be anywhere
    [['../../etc/x'], 'require_approval'],
    [['/var/lib/*'], 'require_approval'], // a glob the shell expands may name it
    [['/srv/$DIR'], 'require_approval'],
    [undefined, 'require_approval'], // not established: may be anything
    [[], 'allow'],
  ];
  for (const [paths, effect] of cases) {
    it(`restrictive: paths ${JSON.stringify(paths)} -> ${effect}`, () => {
      const attributes: Record<string, string[]> = paths === undefined ? { programs: ['cat'] } : { programs: ['cat'], paths };
      assert.equal(onSsh(guard, shell(unit(['read'], attributes))).effect, effect);
    });
  }

  it('restrictive: a relative path only matches patterns it could be the tail of', () => {
    const shadow = policies({ name: 'shadow', match: { paths: ['/etc/shadow'] }, effect: 'deny' }, { name: 'rest', effect: 'allow' });
    const decide = (paths: string[]) => onSsh(shadow, shell(unit(['read'], { programs: ['cat'], paths }))).effect;
    assert.equal(decide(['shadow']), 'deny');
    assert.equal(decide(['etc/shadow']), 'deny');
    assert.equal(decide(['passwd']), 'allow');
    assert.equal(decide(['x/shadow2']), 'allow');
  });

  it('permissive: only absolute, normalised paths that all match satisfy an allow rule', () => {
    const tmp = policies({ name: 'tmp', match: { classes: ['write', 'destructive'], paths: ['/tmp/*'] }, effect: 'allow' });
    const decide = (paths: string[] | undefined) => onSsh(tmp, shell(unit(['destructive', 'write'],
      paths === undefined ? { programs: ['rm'] } : { programs: ['rm'], paths }))).effect;
    assert.equal(decide(['/tmp/build']), 'allow');
    assert.equal(decide(['/tmp/a', '/tmp/b/c']), 'allow');
    assert.equal(decide(['/tmp/../etc/passwd']), 'deny');
    assert.equal(decide(['/tmp/a', '/etc/passwd']), 'deny');
    assert.equal(decide(['build']), 'deny', 'relative: could be anywhere');
    assert.equal(decide(['/tmp/*']), 'deny', 'a glob could expand beyond');
    assert.equal(decide([]), 'deny');
    assert.equal(decide(undefined), 'deny');
  });
});

describe('rules and protocols', () => {
  const mixed = policies(
    { name: 'no-secrets', match: { tables: ['secrets'] }, effect: 'deny' },
    { name: 'no-rm', match: { programs: ['rm'] }, effect: 'deny' },
    { name: 'destructive-approval', match: { classes: ['destructive'] }, effect: 'require_approval', approvers: { groups: ['ops'] } },
    { name: 'rest', effect: 'allow' },
  );

  it('a rule with SQL keys never applies to an ssh command, nor SSH keys to SQL', () => {
    const cat = shell(unit(['read'], { programs: ['cat'], paths: ['secrets'] }));
    assert.deepEqual([onSsh(mixed, cat).effect, onSsh(mixed, cat).rule], ['allow', 'p/rest']);
    const rm = shell(unit(['destructive', 'write'], { programs: ['rm'], paths: ['/tmp/x'] }));
    assert.equal(onSsh(mixed, rm).rule, 'p/no-rm');
    const sql = (s: ReturnType<typeof stmt>) => evaluate(mixed,
      { subject: alice, target: pgTarget(), analysis: fromSqlAnalysis(sqlAnalysis(s)), protocol: postgresProtocol }, DENY);
    assert.equal(sql(stmt(['read'], { tables: ['secrets'] })).rule, 'p/no-secrets');
    assert.equal(sql(stmt(['destructive', 'write'], { tables: ['rm'] })).rule, 'p/destructive-approval', 'programs is not SQL\'s');
  });

  it('classes-only rules apply to every protocol; strength and approvers as for SQL', () => {
    const d = onSsh(mixed, shell(unit(['destructive', 'write'], { programs: ['shred'], paths: ['/dev/sda'] })));
    assert.deepEqual([d.effect, d.rule, d.approval?.groups], ['require_approval', 'p/destructive-approval', ['ops']]);
  });

  it('the strongest unit of a pipeline decides', () => {
    const d = onSsh(mixed, shell(unit(['read'], { programs: ['cat'], paths: [] }), unit(['destructive'], { programs: ['rm'], paths: [] })));
    assert.deepEqual([d.effect, d.rule, d.classes], ['deny', 'p/no-rm', ['destructive', 'read']]);
  });

  it('a default deny names the classes in the protocol\'s words', () => {
    const none = policies({ name: 'reads', match: { classes: ['read'] }, effect: 'allow' });
    assert.equal(onSsh(none, shell(unit(['shell'], {}))).message, 'no policy allows shell commands for alice on target "web-1"');
    const sql = evaluate(none, { subject: alice, target: pgTarget(), analysis: fromSqlAnalysis(sqlAnalysis(stmt(['write']))),
      protocol: postgresProtocol }, DENY);
    assert.equal(sql.message, 'no policy allows write statements for alice on target "pg-prod"');
  });

  it('access at login counts only rules that fit the protocol', () => {
    const sqlOnly = policies({ name: 'tables', match: { tables: ['t'] }, effect: 'allow' });
    assert.equal(mayAccess(sqlOnly, alice, web, sshProtocol), false);
    assert.equal(mayAccess(sqlOnly, alice, pgTarget(), postgresProtocol), true);
  });
});
