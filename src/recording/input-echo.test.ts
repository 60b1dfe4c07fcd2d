/**
 * EchoGate tests: input the host echoed is kept, input typed with echo off (a password prompt) is withheld except
 * its Enter, a pasted line echoed after its Enter is kept, a value echoed masked is withheld.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EchoGate, printable } from './input-echo.js';

describe('EchoGate', () => {
  it('keeps a line the host echoed key by key, in order, with its times', () => {
    const g = new EchoGate();
    g.input('l', 1);
    g.output('l');
    g.input('s', 2);
    g.output('s');
    g.input('\r', 3);
    assert.deepEqual(g.take(), []);
    g.output('\r\nfile1  file2\r\n$ ');
    assert.deepEqual(g.take(), [[1, 'l'], [2, 's'], [3, '\r']]);
    assert.equal(g.withheld, 0);
  });

  it('withholds what was typed at a password prompt, keeping only the Enter', () => {
    const g = new EchoGate();
    g.output('[sudo] password for alice: ');
    for (const [i, ch] of [...'hunter2'].entries()) g.input(ch, i);
    g.input('\r', 9);
    g.output('\r\nroot@host:~# ');
    assert.deepEqual(g.take(), [[9, '\r']]);
    assert.equal(g.withheld, 7);
  });

  it('does not take later output as the echo of a line once the host answered its Enter', () => {
    const g = new EchoGate();
    g.input('secret\r', 1);
    g.output('\r\n');
    g.output('secret was typed\r\n');
    assert.deepEqual(g.take(), [[1, '\r']]);
  });

  it('keeps a pasted line whose echo comes after its Enter, and editing keys with it', () => {
    const g = new EchoGate();
    g.input('echo hi\x1b[D\x7f\r', 1);
    g.output('echo hi\x08\x1b[K\x08i\r\nhi\r\n$ ');
    assert.deepEqual(g.take(), [[1, 'echo hi\x1b[D\x7f\r']]);
  });

  it('withholds a value the output showed masked', () => {
    const g = new EchoGate();
    g.input('4111111111111111\r', 1);
    g.output('[REDACTED]\r\n');
    assert.deepEqual(g.take(), [[1, '\r']]);
  });

  it('keeps lines without printable characters at once, and holds later lines behind an undecided one', () => {
    const g = new EchoGate();
    g.input('\x1b[A', 1);
    g.input('x', 2);
    g.input('\x03', 3);
    g.input('\r', 4);
    assert.deepEqual(g.take(), []);
    g.output('x^C\r\n');
    assert.deepEqual(g.take(), [[1, '\x1b[A'], [2, 'x'], [3, '\x03'], [4, '\r']]);
  });

  it('decides what is left at the end', () => {
    const g = new EchoGate();
    g.input('typed', 1);
    g.output('typed');
    assert.deepEqual(g.finish(), [[1, 'typed']]);
    // One line: 'pw' was never echoed, so the whole line is withheld (fail closed), not just its unechoed part.
    const f = new EchoGate();
    f.input('typed', 1);
    f.output('typed');
    f.input('pw', 2);
    assert.deepEqual(f.finish(), []);
    assert.equal(f.withheld, 7);
    const h = new EchoGate();
    h.input('pw', 1);
    assert.deepEqual(h.finish(), []);
    assert.equal(h.withheld, 2);
  });

  it('printable() drops escapes and controls', () => {
    assert.equal(printable('a\x1b[1;5Cb\x1bOAc\x1b]0;title\x07d\x7f\te'), 'abcde');
  });
});
