/**
 * Line editor tests: each editing key against the line readline would hold, uncertainty for what cannot be known,
 * submitting keys held back, and the same result for every split of the input (every byte boundary, and random
 * multi-way splits of random key streams).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prng } from '../../masking/test-random.js';
import { LineEditor, historyExpansion, type LineSubmission } from './line-editor.js';

interface Run {
  lines: LineSubmission[];
  /** Everything that reached the host: forwards and (accepted) enters, in order. */
  host: Buffer;
  eof: boolean;
}

/** Feeds chunks, accepting every submission (its enter goes to the host, then the rest is fed). */
function run(chunks: Array<string | Buffer>, options: { output?: string; editor?: LineEditor } = {}): Run {
  const editor = options.editor ?? new LineEditor();
  if (options.output !== undefined) editor.observeOutput(Buffer.from(options.output));
  const lines: LineSubmission[] = [];
  const host: Buffer[] = [];
  let eof = false;
  for (const chunk of chunks) {
    let next: Buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'utf8');
    for (;;) {
      const r = editor.feed(next);
      host.push(r.forward);
      eof ||= r.eof === true;
      if (!r.submit) break;
      lines.push(r.submit);
      host.push(r.submit.enter);
      next = r.rest;
    }
  }
  return { lines, host: Buffer.concat(host), eof };
}

function one(input: string | Buffer, output?: string): LineSubmission {
  const { lines } = run([input], { output });
  assert.equal(lines.length, 1, `one line from ${JSON.stringify(String(input))}`);
  return lines[0];
}

/**
 * What must not depend on the split: the lines and every byte the host gets. A submission's `enter` may: a CRLF
 * cut between CR and LF submits at the CR (a lone CR is never held back) and the LF is forwarded with the next chunk.
 */
function summary(r: Run) {
  return { lines: r.lines.map(({ enter: _enter, ...l }) => l), host: r.host.toString('latin1'), eof: r.eof };
}

/** Every two-way split gives what the whole input gives. */
function assertSplitInvariant(input: Buffer, output?: string): void {
  const whole = summary(run([input], { output }));
  for (let cut = 0; cut <= input.length; cut++) {
    assert.deepEqual(summary(run([input.subarray(0, cut), input.subarray(cut)], { output })), whole, `split at ${cut}`);
  }
  assert.deepEqual(summary(run([...input].map((b) => Buffer.from([b])), { output })), whole, 'byte by byte');
}

const CERTAIN: Array<[string, string, string]> = [
  ['plain', 'ls -la\r', 'ls -la'],
  ['LF as Enter', 'ls\n', 'ls'],
  ['backspace (DEL)', 'lx\x7fs\r', 'ls'],
  ['backspace (Ctrl-H)', 'lx\x08s\r', 'ls'],
  ['backspace at start', '\x7f\x7fls\r', 'ls'],
  ['Ctrl-U', 'rm -rf /\x15ls\r', 'ls'],
  ['Ctrl-U mid-line keeps the tail', 'xxls\x02\x02\x15\r', 'ls'],
  ['Ctrl-W', 'echo foo bar\x17baz\r', 'echo foo baz'],
  ['Ctrl-W over spaces', 'echo foo   \x17bar\r', 'echo bar'],
  ['Ctrl-W word with slashes', 'cat /etc/passwd\x17x\r', 'cat x'],
  ['Ctrl-A Ctrl-K', 'abc\x01\x0bls\r', 'ls'],
  ['Ctrl-A then insert', 'ls\x01sudo \r', 'sudo ls'],
  ['Ctrl-E after Ctrl-A', 'ls\x01\x05 -l\r', 'ls -l'],
  ['Ctrl-B Ctrl-F', 'ac\x02b\x06d\r', 'abcd'],
  ['left arrows then insert', 'rm /tmp/x\x1b[D\x1b[D\x1b[D\x1b[Dy\r', 'rm /tymp/x'],
  ['right arrow past end', 'ab\x1b[C\x1b[Cc\r', 'abc'],
  ['left arrow past start', 'b\x1b[D\x1b[Da\r', 'ab'],
  ['SS3 arrows', 'ac\x1bODb\x1bOCd\r', 'abcd'],
  ['Home/End CSI H F', 'b\x1b[Ha\x1b[Fc\r', 'abc'],
  ['Home/End 1~ 4~', 'b\x1b[1~a\x1b[4~c\r', 'abc'],
  ['Home/End 7~ 8~', 'b\x1b[7~a\x1b[8~c\r', 'abc'],
  ['Home/End SS3', 'b\x1bOHa\x1bOFc\r', 'abc'],
  ['Home with modifier 1', 'b\x1b[1Ha\r', 'ab'],
  ['Delete', 'abXc\x1b[D\x1b[D\x1b[3~\r', 'abc'],
  ['Delete at end does nothing', 'abc\x1b[3~\r', 'abc'],
  ['Alt-b twice', 'echo hello world\x1bb\x1bbX\r', 'echo Xhello world'],
  ['Alt-f', 'echo hello world\x01\x1bfX\r', 'echoX hello world'],
  ['Alt-f skips punctuation', 'a--bc d\x01\x1bf\x1bfX\r', 'a--bcX d'],
  ['Alt-d', 'echo hello world\x01\x1bd\r', ' hello world'],
  ['Alt-Backspace', 'rm -rf /var/lib\x1b\x7f\r', 'rm -rf /var/'],
  ['Ctrl-C discards the line', 'rm -rf /\x03ls\r', 'ls'],
  ['Ctrl-D deletes under the cursor', 'ab\x01\x04\r', 'b'],
  ['Ctrl-L changes nothing', 'ls\x0c\r', 'ls'],
  ['quoted insert of Tab', 'echo \x16\tx\r', 'echo \tx'],
  ['quoted insert of CR', 'echo \x16\rx\r', 'echo \rx'],
  ['UTF-8', 'echo café 😀 日本\r', 'echo café 😀 日本'],
  ['backspace over an emoji', 'echo 😀\x7fok\r', 'echo ok'],
  ['arrows move by character', 'é😀\x1b[D\x1b[Dx\r', 'xé😀'],
  ['not history: [ ! -f x ]', '[ ! -f x ]\r', '[ ! -f x ]'],
  ['not history: !=', 'test a != b\r', 'test a != b'],
  ['not history: $!', 'wait $!\r', 'wait $!'],
  ['not history: trailing !', 'echo hi!\r', 'echo hi!'],
];

describe('LineEditor: certain lines', () => {
  for (const [name, input, line] of CERTAIN) {
    it(`${name}: ${JSON.stringify(line)}`, () => {
      const s = one(input);
      assert.equal(s.line, line);
      assert.equal(s.certain, true, `reasons: ${s.reasons.join(', ')}`);
      assert.equal(s.trigger, 'enter');
      assertSplitInvariant(Buffer.from(input, 'utf8'));
    });
  }

  it('forwards everything before the Enter and holds the Enter and the rest', () => {
    const editor = new LineEditor();
    const r = editor.feed(Buffer.from('rm -rf /\rls\r'));
    assert.equal(r.forward.toString(), 'rm -rf /');
    assert.equal(r.submit?.enter.toString(), '\r');
    assert.equal(r.rest.toString(), 'ls\r');
  });

  it('takes CRLF as one Enter, also when the LF comes in the next chunk', () => {
    assert.equal(one('ls\r\n').enter.toString(), '\r\n');
    const r = run(['ls\r', '\npwd\r']);
    assert.deepEqual(r.lines.map((l) => l.line), ['ls', 'pwd']);
    assert.equal(r.host.toString(), 'ls\r\npwd\r');
  });

  it('submits each of several lines in one chunk, one at a time', () => {
    assert.deepEqual(run(['ls\rpwd\nid\r']).lines.map((l) => l.line), ['ls', 'pwd', 'id']);
  });

  it('says EOF for Ctrl-D on an empty line', () => {
    assert.equal(run(['\x04']).eof, true);
    assert.equal(run(['a\x04']).eof, false);
  });

  it('keeps an escape sequence or a UTF-8 character cut by the transport until the rest arrives', () => {
    const editor = new LineEditor();
    assert.equal(editor.feed(Buffer.from('ab\x1b')).forward.toString(), 'ab');
    assert.equal(editor.feed(Buffer.from('[D')).forward.toString(), '\x1b[D');
    assert.equal(editor.feed(Buffer.from([0xc3])).forward.length, 0);
    assert.deepEqual([...editor.feed(Buffer.from([0xa9])).forward], [0xc3, 0xa9]);
    assert.equal(editor.current(), 'aéb');
  });
});

describe('LineEditor: bracketed paste', () => {
  const ON = '\x1b[?2004h';

  it('inserts a paste as text, newlines included (CR read as LF, as readline does), submitted at the Enter', () => {
    const input = 'x\x1b[200~echo a\r\necho b\x1b[201~\r';
    const s = one(input, ON);
    assert.equal(s.line, 'xecho a\n\necho b');
    assert.equal(s.certain, true);
    assert.equal(s.context, 'prompt');
    assertSplitInvariant(Buffer.from(input), ON);
  });

  it('keeps Tab and escapes inside a paste literal', () => {
    assert.equal(one('\x1b[200~a\tb\x1b[Dc\x1b[201~\r', ON).line, 'a\tb\x1b[Dc');
  });

  it('does not take paste markers the host did not ask for: they submit, uncertain, and newlines are Enters', () => {
    const r = run(['\x1b[200~rm -rf /\rls\x1b[201~\r']);
    assert.equal(r.lines[0].trigger, 'key');
    assert.equal(r.lines[0].certain, false);
    assert.equal(r.lines[1].line, 'rm -rf /');
    assert.equal(r.lines[1].certain, false);
  });

  it('submits a paste from a host that switched bracketed paste off as separate lines', () => {
    const r = run(['\x1b[200~a\rb\x1b[201~\r'], { output: `${ON}\x1b[?2004l` });
    assert.equal(r.lines[0].trigger, 'key');
  });
});

const UNCERTAIN: Array<[string, string]> = [
  ['up arrow', 'ls\x1b[A\r'],
  ['down arrow', '\x1b[B\r'],
  ['SS3 up arrow', '\x1bOA\r'],
  ['Ctrl-P', '\x10\r'],
  ['Ctrl-N', '\x0e\r'],
  ['PgUp', '\x1b[5~\r'],
  ['Tab', 'cat /etc/pas\t\r'],
  ['Shift-Tab', 'ls\x1b[Z\r'],
  ['Ctrl-R', '\x12rm\r'],
  ['Ctrl-S', '\x13rm\r'],
  ['Ctrl-Y', 'ls \x19\r'],
  ['Ctrl-T', 'sl\x14\r'],
  ['Ctrl-_ (undo)', 'ls\x1f\r'],
  ['Alt-.', 'ls \x1b.\r'],
  ['Alt-digit (numeric argument)', '\x1b4x\r'],
  ['Ctrl-Right', 'a b\x1b[1;5D\r'],
  ['history expansion !!', 'sudo !!\r'],
  ['history expansion !$', 'rm !$\r'],
  ['history expansion !-2', 'echo !-2\r'],
  ['quick substitution', '^ls^rm -rf /^\r'],
  ['invalid UTF-8', Buffer.from([0x6c, 0xff, 0x73, 0x0d]).toString('latin1')],
];

describe('LineEditor: uncertain lines', () => {
  for (const [name, input] of UNCERTAIN) {
    it(name, () => {
      const bytes = Buffer.from(input, 'latin1');
      const { lines } = run([bytes]);
      const last = lines[lines.length - 1];
      assert.equal(last.certain, false);
      assert.ok(last.reasons.length > 0);
      assertSplitInvariant(bytes);
    });
  }

  it('starts the next line certain again after an uncertain one', () => {
    const { lines } = run(['\x1b[A\rls\r']);
    assert.deepEqual(lines.map((l) => l.certain), [false, true]);
  });

  it('marks a line longer than MAX_LINE uncertain', () => {
    const s = one(`echo ${'a'.repeat(70_000)}\r`);
    assert.equal(s.certain, false);
    assert.ok(s.reasons.includes('line too long'));
  });
});

describe('LineEditor: keys that may act without an Enter', () => {
  for (const [name, input] of [['Ctrl-X (Ctrl-X Ctrl-E runs the line)', 'rm -rf /\x18\x05'], ['Alt-# (comments and accepts)', 'rm\x1b#'],
    ['F5', 'ls\x1b[15~'], ['Insert (overwrite mode)', 'ls\x1b[2~'], ['Alt-x', 'ls\x1bx'], ['Ctrl-^', 'ls\x1e']] as const) {
    it(`${name} submits the line so far, uncertain, before the key reaches the host`, () => {
      const r = new LineEditor().feed(Buffer.from(input, 'latin1'));
      assert.equal(r.submit?.trigger, 'key');
      assert.equal(r.submit?.certain, false);
      assert.equal(r.forward.length + r.submit!.enter.length + r.rest.length, Buffer.byteLength(input, 'latin1'));
    });
  }

  it('leaves the next line uncertain after an allowed unknown key, and certain after a refused one', () => {
    assert.deepEqual(run(['ls\x18ls\r']).lines.map((l) => l.certain), [false, false]);
    const editor = new LineEditor();
    const first = editor.feed(Buffer.from('ls\x18'));
    assert.equal(first.submit?.trigger, 'key');
    editor.refused();
    assert.equal(run(['pwd\r'], { editor }).lines[0].certain, true);
  });

  it('treats Ctrl-O as an Enter whose next line comes from history', () => {
    const { lines } = run(['ls\x0fpwd\r']);
    assert.equal(lines[0].line, 'ls');
    assert.equal(lines[0].trigger, 'enter');
    assert.equal(lines[0].certain, true);
    assert.equal(lines[1].certain, false);
  });

  it('keeps every line uncertain after a switch to vi mode, unless the switch was refused', () => {
    const { lines } = run(['\x1b\nls\r\x03pwd\r']);
    assert.deepEqual(lines.map((l) => l.certain), [false, false, false]);
    const editor = new LineEditor();
    editor.feed(Buffer.from('\x1b\n'));
    editor.refused();
    assert.equal(run(['ls\r'], { editor }).lines[0].certain, true);
  });

  it('a Ctrl-C after an unknown key makes the line known again', () => {
    assert.deepEqual(run(['\x18\x03ls\r']).lines.map((l) => l.certain), [false, true]);
  });
});

describe('LineEditor: context from the host output', () => {
  it('says fullscreen inside the alternate screen, prompt when bracketed paste is on, else unknown', () => {
    const editor = new LineEditor();
    assert.equal(run(['ls\r'], { editor }).lines[0].context, 'unknown');
    editor.observeOutput(Buffer.from('$ \x1b[?2004h'));
    assert.equal(run(['ls\r'], { editor }).lines[0].context, 'prompt');
    // Split anywhere, several modes in one sequence.
    const seq = Buffer.from('text\x1b[?1049;2004lmore\x1b[?1049h');
    for (let cut = 0; cut <= seq.length; cut++) {
      const e = new LineEditor();
      e.observeOutput(Buffer.from('\x1b[?2004h'));
      e.observeOutput(seq.subarray(0, cut));
      e.observeOutput(seq.subarray(cut));
      assert.equal(e.modes.fullScreen, true, `cut ${cut}`);
      assert.equal(e.modes.bracketedPaste, false, `cut ${cut}`);
    }
    editor.observeOutput(Buffer.from('\x1b[?1049h'));
    assert.equal(run([':wq\r'], { editor }).lines[0].context, 'fullscreen');
    editor.observeOutput(Buffer.from('\x1b[?1049l'));
    assert.equal(run(['ls\r'], { editor }).lines[0].context, 'prompt');
    editor.observeOutput(Buffer.from('\x1b[?47h\x1bc'));
    assert.equal(editor.modes.fullScreen, false);
  });
});

describe('historyExpansion', () => {
  it('flags the forms bash expands and not the ones it leaves', () => {
    for (const s of ['!!', 'echo !$', '!ls', 'x ^a', '^a^b']) assert.equal(historyExpansion(s), s !== 'x ^a', s);
    for (const s of ['echo hi!', '[ ! -x f ]', 'a!=b', 'echo ${!prefix*}', 'echo $!', 'f !(x)']) assert.equal(historyExpansion(s), false, s);
  });
});

describe('LineEditor: fuzz', () => {
  const KEYS = ['a', 'b', ' ', '/', 'é', '😀', '!', '\x7f', '\x08', '\x15', '\x17', '\x0b', '\x01', '\x05', '\x02', '\x06',
    '\x03', '\x04', '\x1b[D', '\x1b[C', '\x1b[H', '\x1b[F', '\x1b[3~', '\x1bb', '\x1bf', '\x1bd', '\x1b\x7f', '\x1b[A',
    '\t', '\x19', '\x18', '\x1b[15~', '\x1bx', '\r', '\n', '\r\n', '\x0f', '\x16', '\x1b[200~', '\x1b[201~', '\xff', '\x1b',
    '\x1b['];
  it('gives the same lines and host bytes for random splits of random key streams, and loses no byte', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = prng(seed);
      const parts: Buffer[] = [];
      const n = 1 + Math.floor(rand() * 40);
      for (let k = 0; k < n; k++) {
        const key = KEYS[Math.floor(rand() * KEYS.length)];
        parts.push(key === '\xff' ? Buffer.from([0xff]) : Buffer.from(key, 'utf8'));
      }
      const input = Buffer.concat(parts);
      const output = rand() < 0.5 ? '\x1b[?2004h' : undefined;
      const whole = run([input], { output });
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const len = 1 + Math.floor(rand() * 6);
        chunks.push(input.subarray(at, at + len));
        at += len;
      }
      const editor = new LineEditor();
      const split = run(chunks, { output, editor });
      assert.deepEqual(summary(split), summary(whole), `seed ${seed}`);
      // Everything reaches the host except what the editor still holds (an unfinished key or paste marker).
      const held = input.length - whole.host.length;
      assert.ok(held >= 0 && held < 32, `seed ${seed}`);
      assert.deepEqual(whole.host, input.subarray(0, whole.host.length), `seed ${seed}`);
    }
  });
});
