import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { WardenError } from '../../errors.js';
import type { MaskPlan } from '../../masking/plan.js';
import { ResultShapes, encodeDescribePortal, type FactsSource } from './result-shapes.js';

interface F { key: string; text: string }
const source: FactsSource<F> = {
  analyze: (text) => ({ facts: { key: text, text }, declares: [...text.matchAll(/DECLARE (\w+)/g)].map((m) => m[1]),
    fetches: [...text.matchAll(/FETCH \w+ FROM (\w+)/g)].map((m) => m[1]) }),
  merge: (list) => ({ key: list.map((f) => f.key).join('+'), text: list.map((f) => f.text).join('+') }),
  unknown: { key: '?', text: '?' },
};

/** Feeds frontend messages (as pg-protocol serialises them) and collects what Warden injects. */
function forward(shapes: ResultShapes<F>, ...messages: Buffer[]): Buffer[] {
  const injected: Buffer[] = [];
  for (const m of messages) {
    const own = shapes.forwarding(m[0], m.subarray(5));
    if (own !== null) injected.push(own);
  }
  return injected;
}

const plan = (columns: number, tag: string): MaskPlan => ({ columns: Array.from({ length: columns }, () => null), empty: false, tag } as MaskPlan);
const row = (columns: number): Buffer => {
  const b = Buffer.alloc(2 + 4 * columns);
  b.writeUInt16BE(columns);
  return b;
};
/** The server's ParseComplete, BindComplete and CloseComplete for the messages at the head of the queue. */
function settled(shapes: ResultShapes<F>): void {
  while (['parse', 'bind', 'close'].includes(shapes.current()?.kind ?? '')) shapes.answered();
}
const forbidden = (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_ERR_FORBIDDEN';
const tagOf = (p: MaskPlan) => (p as MaskPlan & { tag: string }).tag;

describe('result shapes', () => {
  test('an Execute without Describe gets Warden\'s own Describe, whose answer is dropped and gives the plan', () => {
    const shapes = new ResultShapes(source);
    const injected = forward(shapes, serialize.parse({ text: 'SELECT a' }), serialize.bind({}), serialize.execute({}), serialize.sync());
    assert.deepEqual(injected, [encodeDescribePortal('')]);
    settled(shapes);
    const seen: string[] = [];
    assert.equal(shapes.description((f) => (seen.push(f.text), plan(4, 'own'))), true, 'Warden\'s own answer is dropped');
    assert.deepEqual(seen, ['SELECT a']);
    assert.equal(tagOf(shapes.rowPlan(row(4))), 'own');
    assert.throws(() => shapes.rowPlan(row(3)), forbidden, 'a row of another shape');
    shapes.completed(false);
    shapes.ready();
    assert.throws(() => shapes.rowPlan(row(4)), forbidden, 'no statement is running');
  });

  test('the caller\'s own Describe after Bind is used; a plan never outlives its portal\'s Bind, Sync or Query', () => {
    const shapes = new ResultShapes(source);
    assert.deepEqual(forward(shapes, serialize.parse({ text: 'SELECT 1,2,3,4' }), serialize.bind({}), serialize.describe({ type: 'P' }),
      serialize.execute({}), serialize.sync()), []);
    settled(shapes);
    assert.equal(shapes.description(() => plan(4, 'ints')), false);
    assert.equal(tagOf(shapes.rowPlan(row(4))), 'ints');
    shapes.completed(false);
    shapes.ready();
    // The stale-plan attack: same unnamed portal, another statement, no Describe.
    assert.equal(forward(shapes, serialize.parse({ text: 'SELECT secrets' }), serialize.bind({}), serialize.execute({}), serialize.sync()).length, 1);
    settled(shapes);
    assert.throws(() => shapes.rowPlan(row(4)), forbidden, 'before the answer to Warden\'s Describe, no plan');
    shapes.description(() => plan(4, 'secrets'));
    assert.equal(tagOf(shapes.rowPlan(row(4))), 'secrets');
    // A Describe before a rebinding does not count.
    shapes.completed(false);
    shapes.ready();
    assert.equal(forward(shapes, serialize.describe({ type: 'P' }), serialize.bind({}), serialize.execute({}), serialize.sync()).length, 1);
  });

  test('interleaved named portals, PortalSuspended, errors skipping to Sync', () => {
    const shapes = new ResultShapes(source);
    const own = forward(shapes, serialize.parse({ name: 's1', text: 'one' }), serialize.parse({ name: 's2', text: 'two' }),
      serialize.bind({ portal: 'p1', statement: 's1' }), serialize.bind({ portal: 'p2', statement: 's2' }),
      serialize.execute({ portal: 'p1', rows: 1 }), serialize.execute({ portal: 'p2', rows: 1 }),
      serialize.execute({ portal: 'p1', rows: 1 }), serialize.sync());
    assert.deepEqual(own, [encodeDescribePortal('p1'), encodeDescribePortal('p2')], 'each portal described once');
    settled(shapes);
    shapes.description((f) => plan(1, f.text));
    assert.equal(tagOf(shapes.rowPlan(row(1))), 'one');
    shapes.completed(true);
    shapes.description((f) => plan(2, f.text));
    assert.equal(tagOf(shapes.rowPlan(row(2))), 'two');
    shapes.completed(true);
    assert.equal(tagOf(shapes.rowPlan(row(1))), 'one');
    shapes.failed();
    assert.throws(() => shapes.rowPlan(row(1)), forbidden);
    shapes.ready();
    // After an error with no Sync forwarded yet, nothing before the next Sync is expected.
    forward(shapes, serialize.parse({ text: 'x' }), serialize.bind({}), serialize.describe({ type: 'P' }));
    shapes.failed();
    forward(shapes, serialize.execute({}), serialize.sync());
    assert.equal(shapes.current()?.kind, 'sync');
  });

  test('simple queries: each RowDescription sets the plan; cursors carry the facts of their DECLARE', () => {
    const shapes = new ResultShapes(source);
    forward(shapes, serialize.query('DECLARE c CURSOR FOR secret'), serialize.query('FETCH 1 FROM c'));
    shapes.ready();
    assert.equal(shapes.description((f) => plan(1, f.text)), false);
    assert.equal(tagOf(shapes.rowPlan(row(1))), 'FETCH 1 FROM c+DECLARE c CURSOR FOR secret');
    shapes.completed(false);
    assert.throws(() => shapes.rowPlan(row(1)), forbidden, 'between statements of a Query');
    shapes.ready();
    // An Execute of a DECLAREd portal without Bind is described by Warden with the cursor's facts.
    forward(shapes, serialize.execute({ portal: 'c' }), serialize.sync());
    let facts = '';
    assert.equal(shapes.description((f) => ((facts = f.text), plan(1, 'c'))), true);
    assert.equal(facts, 'DECLARE c CURSOR FOR secret');
    // A portal Warden knows nothing of gets the unknown facts.
    shapes.completed(false);
    shapes.ready();
    forward(shapes, serialize.execute({ portal: 'nobody' }), serialize.sync());
    shapes.description((f) => ((facts = f.text), plan(1, 'x')));
    assert.equal(facts, '?');
  });

  test('a statement name takes new facts only once the server parsed or closed it', () => {
    const shapes = new ResultShapes(source);
    const factsOfExecute = (statement: string): string => {
      forward(shapes, serialize.bind({ statement }), serialize.execute({}), serialize.sync());
      settled(shapes);
      let facts = '';
      shapes.description((f) => ((facts = f.text), plan(1, 'x')));
      shapes.completed(false);
      shapes.ready();
      return facts;
    };
    forward(shapes, serialize.parse({ name: 'q', text: 'secret' }), serialize.sync());
    settled(shapes);
    shapes.ready();
    // A second Parse of the taken name fails on the server: until its answer the name carries both facts.
    forward(shapes, serialize.parse({ name: 'q', text: 'harmless' }), serialize.sync());
    shapes.failed();
    shapes.ready();
    assert.equal(factsOfExecute('q'), 'secret', 'the server kept the first statement');
    // A Bind sent before that answer arrived sees both.
    forward(shapes, serialize.parse({ name: 'q', text: 'harmless' }), serialize.sync(), serialize.bind({ statement: 'q' }),
      serialize.execute({}), serialize.sync());
    shapes.failed();
    shapes.ready();
    settled(shapes);
    let facts = '';
    shapes.description((f) => ((facts = f.text), plan(1, 'x')));
    assert.equal(facts, 'secret+harmless', 'in doubt: both');
    shapes.completed(false);
    shapes.ready();
    // A Close skipped after an error in its batch frees nothing; one the server closed does.
    forward(shapes, serialize.parse({ text: 'boom' }), serialize.bind({}), serialize.execute({}), serialize.close({ type: 'S', name: 'q' }), serialize.sync());
    settled(shapes);
    shapes.description(() => plan(1, 'boom'));
    shapes.failed();
    shapes.ready();
    assert.equal(factsOfExecute('q'), 'secret');
    forward(shapes, serialize.close({ type: 'S', name: 'q' }), serialize.parse({ name: 'q', text: 'harmless' }), serialize.sync());
    settled(shapes);
    shapes.ready();
    assert.equal(factsOfExecute('q'), 'harmless');
    // A SQL PREPARE of a known name (its outcome is not followed here) keeps both.
    forward(shapes, serialize.query("PREPARE q AS SELECT 'a'"));
    shapes.ready();
    assert.equal(factsOfExecute('q'), 'harmless', 'the test source names no PREPARE: facts unchanged');
  });

  test('a Bind the server refuses (a DECLAREd cursor holds the portal name) leaves the cursor\'s facts', () => {
    const shapes = new ResultShapes(source);
    forward(shapes, serialize.query('DECLARE p CURSOR WITH HOLD FOR secret'));
    shapes.ready();
    forward(shapes, serialize.parse({ text: 'harmless' }), serialize.bind({ portal: 'p' }), serialize.sync());
    shapes.answered(); // ParseComplete
    shapes.failed(); // cursor "p" already exists
    shapes.ready();
    forward(shapes, serialize.execute({ portal: 'p' }), serialize.sync());
    let facts = '';
    shapes.description((f) => ((facts = f.text), plan(1, 'x')));
    assert.equal(facts, 'DECLARE p CURSOR WITH HOLD FOR secret');
  });
});
