/**
 * End to end: the drivers people use besides psql and node-postgres keep working through Warden. pgJDBC (Debian
 * libpostgresql-jdbc-java; a small Java program compiled at test time) with server-side prepared statements
 * (prepareThreshold=1), a fetch-size cursor (autocommit off) and a batch; psycopg2 (Debian python3-psycopg2, run with
 * the system python) with a named cursor and COPY both ways. Each under the README's guardrails example: the same
 * programs see a DROP refused with SQLSTATE 42501, and the server's statement log shows the protocol features
 * really reached it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { GUARDRAILS_YAML } from '../src/policy/test-fixtures.js';
import { runProcess } from './harness/process.js';
import { startStack, type Stack } from './harness/stack.js';

const JDBC_JAR = '/usr/share/java/postgresql.jar';
const PYTHON = '/usr/bin/python3';

/** args: JDBC URL, user, table. The token comes in WARDEN_TOKEN. */
const JAVA_PROBE = `
import java.sql.*;
import java.util.Properties;

public class Probe {
  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    p.setProperty("user", args[1]);
    p.setProperty("password", System.getenv("WARDEN_TOKEN"));
    p.setProperty("sslmode", "require");
    p.setProperty("prepareThreshold", "1");
    String table = args[2];
    try (Connection c = DriverManager.getConnection(args[0], p)) {
      try (PreparedStatement ps = c.prepareStatement("SELECT name FROM " + table + " WHERE id = ?")) {
        for (int i = 1; i <= 3; i++) {
          ps.setInt(1, i);
          try (ResultSet rs = ps.executeQuery()) { rs.next(); System.out.println("prepared " + i + " " + rs.getString(1)); }
        }
      }
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        st.setFetchSize(3);
        int n = 0; long sum = 0;
        try (ResultSet rs = st.executeQuery("SELECT id FROM " + table + " ORDER BY id")) {
          while (rs.next()) { n++; sum += rs.getLong(1); }
        }
        System.out.println("cursor rows " + n + " sum " + sum);
      }
      try (PreparedStatement ins = c.prepareStatement("INSERT INTO " + table + " (id, name) VALUES (?, ?)")) {
        for (int i = 101; i <= 104; i++) { ins.setInt(1, i); ins.setString(2, "batch-" + i); ins.addBatch(); }
        System.out.println("batch " + ins.executeBatch().length);
      }
      c.commit();
      c.setAutoCommit(true);
      try (Statement st = c.createStatement()) {
        st.execute("DROP TABLE " + table);
        System.out.println("drop ran");
      } catch (SQLException e) {
        System.out.println("refused " + e.getSQLState());
      }
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM " + table)) {
        rs.next(); System.out.println("count " + rs.getLong(1));
      }
    }
  }
}
`;

/** argv: port, user, table. The token comes in WARDEN_TOKEN. */
const PYTHON_PROBE = `
import io, os, sys
import psycopg2
port, user, table = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conn = psycopg2.connect(host='127.0.0.1', port=port, user=user, password=os.environ['WARDEN_TOKEN'],
                        dbname='pg-main', sslmode='require')
cur = conn.cursor()
cur.execute('SELECT name FROM ' + table + ' WHERE id = %s', (2,))
print('param', cur.fetchone()[0])
with conn.cursor(name='walk') as named:
    named.itersize = 3
    named.execute('SELECT id FROM ' + table + ' ORDER BY id')
    ids = [r[0] for r in named]
print('named', len(ids), sum(ids))
out = io.StringIO()
cur.copy_expert('COPY (SELECT id, name FROM ' + table + ' WHERE id <= 2 ORDER BY id) TO STDOUT', out)
print('copy out', out.getvalue().replace('\\n', '|'))
cur.copy_expert('COPY ' + table + ' (id, name) FROM STDIN', io.StringIO('201\\tcopied-201\\n202\\tcopied-202\\n'))
conn.commit()
try:
    cur.execute('DROP TABLE ' + table)
    print('drop ran')
except psycopg2.Error as e:
    print('refused', e.pgcode)
    conn.rollback()
cur.execute('SELECT count(*) FROM ' + table)
print('count', cur.fetchone()[0])
conn.close()
`;

let stack: Stack;
let token: string;
let workDir: string;

before(async () => {
  stack = await startStack({ policy: GUARDRAILS_YAML, pg: { extraConf: { log_statement: 'all' } } });
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'warden-drivers-'));
  token = await stack.token('alice');
});

after(async () => {
  await stack?.stop();
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
});

/** Creates `table` with ten rows (id 1..10, name item-N) as the target's role, directly. */
async function seed(table: string): Promise<void> {
  const client = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'app' });
  await client.connect();
  try {
    await client.query(`SET ROLE ${stack.pg.scram.user}`);
    await client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text)`);
    await client.query(`INSERT INTO ${table} SELECT i, 'item-' || i FROM generate_series(1, 10) i`);
  } finally {
    await client.end();
  }
}

/** Rows of `table` on the real server, read directly. */
async function serverRows(table: string): Promise<string[]> {
  const client = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'app' });
  await client.connect();
  try {
    return (await client.query(`SELECT id || ':' || name AS r FROM ${table} ORDER BY id`)).rows.map((r) => r.r);
  } finally {
    await client.end();
  }
}

function items(...ids: number[]): string[] {
  return ids.map((i) => `${i}:item-${i}`);
}

describe('drivers through Warden', () => {
  test('pgJDBC: server-side prepared statements, a fetch-size cursor and a batch; a DROP refused with 42501', async () => {
    await seed('items_jdbc');
    await fs.writeFile(path.join(workDir, 'Probe.java'), JAVA_PROBE);
    const javac = await runProcess('javac', ['-cp', JDBC_JAR, '-d', workDir, path.join(workDir, 'Probe.java')]);
    assert.equal(javac.code, 0, javac.stderr);
    const url = `jdbc:postgresql://127.0.0.1:${stack.warden.ports.postgres}/${stack.target}`;
    const r = await runProcess('java', ['-cp', `${JDBC_JAR}:${workDir}`, 'Probe', url, 'alice', 'items_jdbc'],
      { env: { ...process.env, WARDEN_TOKEN: token } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, ['prepared 1 item-1', 'prepared 2 item-2', 'prepared 3 item-3', 'cursor rows 10 sum 55',
      'batch 4', 'refused 42501', 'count 14', ''].join('\n'));
    assert.deepEqual(await serverRows('items_jdbc'), [...items(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
      '101:batch-101', '102:batch-102', '103:batch-103', '104:batch-104']);
    const log = stack.pg.log();
    // Named server-side statements (S_n) and a portal fetched in pieces (C_n) reached the server as such.
    assert.match(log, /execute S_\d+: SELECT name FROM items_jdbc WHERE id = \$1/);
    assert.match(log, /execute S_\d+\/C_\d+: SELECT id FROM items_jdbc ORDER BY id/);
    assert.doesNotMatch(log, /DROP TABLE items_jdbc/);
  });

  test('psycopg2: a named cursor and COPY out and in; a DROP refused with 42501', async () => {
    await seed('items_py');
    const script = path.join(workDir, 'probe.py');
    await fs.writeFile(script, PYTHON_PROBE);
    const r = await runProcess(PYTHON, [script, String(stack.warden.ports.postgres), 'alice', 'items_py'],
      { env: { ...process.env, WARDEN_TOKEN: token } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, ['param item-2', 'named 10 55', 'copy out 1\titem-1|2\titem-2|', 'refused 42501', 'count 12', '']
      .join('\n'));
    assert.deepEqual(await serverRows('items_py'), [...items(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), '201:copied-201', '202:copied-202']);
    const log = stack.pg.log();
    assert.match(log, /DECLARE "walk" CURSOR WITHOUT HOLD FOR SELECT id FROM items_py ORDER BY id/);
    assert.match(log, /FETCH FORWARD 3 FROM "walk"/);
    assert.doesNotMatch(log, /DROP TABLE items_py/);
  });
});
