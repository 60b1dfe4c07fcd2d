import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHANNEL, JsonObjectSplitter, MAX_CONTROL_JSON, PortForwardDecoder, decodeStreamFrame, encodeClose, encodeFrame,
  encodePortPrefix, encodeResize, parseExitStatus, parseForwardPorts, parseResize, portChannel, type PortForwardFrame,
} from './channel-codec.js';

test('remote command frames: channel byte then data, v5 close, empty and unknown channels', () => {
  assert.deepEqual(decodeStreamFrame(encodeFrame(CHANNEL.stdout, 'hi'), true), { kind: 'data', channel: 1, data: Buffer.from('hi') });
  assert.deepEqual(decodeStreamFrame(encodeFrame(CHANNEL.stdin, ''), false), { kind: 'data', channel: 0, data: Buffer.alloc(0) });
  assert.deepEqual(decodeStreamFrame(encodeClose(0), true), { kind: 'close', channel: 0 });
  assert.equal(decodeStreamFrame(encodeClose(0), false).kind, 'malformed');
  assert.equal(decodeStreamFrame(Buffer.from([255]), true).kind, 'malformed');
  assert.equal(decodeStreamFrame(Buffer.from([255, 0, 0]), true).kind, 'malformed');
  assert.deepEqual(decodeStreamFrame(Buffer.alloc(0), true), { kind: 'empty' });
  for (const channel of [5, 9, 128, 254]) assert.equal(decodeStreamFrame(Buffer.from([channel, 1]), true).kind, 'malformed');
});

test('the JSON splitter finds every object however the stream is cut', () => {
  const stream = '{"Width":80,"Height":24}\n {"Width":120,"Height":40,"x":"}{\\"\\\\"}{"Height":1}';
  const expected = ['{"Width":80,"Height":24}', '{"Width":120,"Height":40,"x":"}{\\"\\\\"}', '{"Height":1}'];
  const bytes = Buffer.from(stream);
  for (let a = 0; a <= bytes.length; a++) {
    for (let b = a; b <= bytes.length; b += 7) {
      const s = new JsonObjectSplitter();
      const got: string[] = [];
      for (const part of [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]) {
        const r = s.push(part);
        assert.ok('objects' in r, `cut at ${a}/${b}`);
        got.push(...r.objects);
      }
      assert.deepEqual(got, expected, `cut at ${a}/${b}`);
      assert.equal(s.pending, 0);
    }
  }
});

test('the JSON splitter refuses what is not an object, for good, and bounds what it holds', () => {
  const s = new JsonObjectSplitter();
  assert.deepEqual(s.push(Buffer.from('[1]')), { error: 'not a JSON object' });
  assert.ok('error' in s.push(Buffer.from('{"Width":1}')));
  const long = new JsonObjectSplitter();
  assert.ok('objects' in long.push(Buffer.from('{"a":"')));
  assert.ok('error' in long.push(Buffer.alloc(MAX_CONTROL_JSON, 0x61)));
  assert.equal(long.pending, 0);
});

test('resize objects are read as Go fills TerminalSize', () => {
  assert.deepEqual(parseResize('{"Width":80,"Height":24}'), { width: 80, height: 24 });
  assert.deepEqual(parseResize('{"width":80,"HEIGHT":24,"other":[1]}'), { width: 80, height: 24 });
  assert.deepEqual(parseResize('{"Width":80,"Width":100}'), { width: 100, height: 0 });
  assert.deepEqual(parseResize('{}'), { width: 0, height: 0 });
  for (const bad of ['{"Width":-1}', '{"Width":65536}', '{"Width":1.5}', '{"Width":"80"}', '[80,24]', 'null', '{']) {
    assert.equal(parseResize(bad), null, bad);
  }
  assert.deepEqual(encodeResize({ width: 80, height: 24 }), encodeFrame(4, '{"Width":80,"Height":24}'));
});

test('the error channel Status gives the exit code or the failure', () => {
  assert.deepEqual(parseExitStatus('{"metadata":{},"status":"Success"}'), { code: 0 });
  const nonZero = { status: 'Failure', message: 'command terminated with non-zero exit code: exit status 3', reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] } };
  assert.deepEqual(parseExitStatus(JSON.stringify(nonZero)), { code: 3, message: nonZero.message });
  assert.deepEqual(parseExitStatus('{"status":"Failure","message":"container not found"}'), { code: null, message: 'container not found' });
  assert.deepEqual(parseExitStatus('{"status":"Failure","details":{"causes":[{"reason":"ExitCode","message":"x"}]}}'), { code: null });
  assert.equal(parseExitStatus('{"status":"Pending"}'), null);
  assert.equal(parseExitStatus('not json'), null);
});

test('port-forward: the port prefix is read at every split and checked against the request', () => {
  const ports = [8080, 443];
  const server = [
    Buffer.concat([Buffer.from([portChannel(0, false)]), encodePortPrefix(8080), Buffer.from('hello')]),
    Buffer.concat([Buffer.from([portChannel(0, true)]), encodePortPrefix(8080)]),
    Buffer.concat([Buffer.from([portChannel(1, false)]), encodePortPrefix(443), Buffer.from('x')]),
  ];
  const first = server[0];
  for (let cut = 1; cut <= first.length; cut++) {
    const d = new PortForwardDecoder(ports);
    const got: PortForwardFrame[] = [];
    got.push(...d.push(first.subarray(0, cut)));
    if (cut < first.length) got.push(...d.push(Buffer.concat([first.subarray(0, 1), first.subarray(cut)])));
    const data = got.filter((f) => f.kind === 'data').map((f) => (f as { data: Buffer }).data.toString()).join('');
    assert.equal(data, 'hello', `cut at ${cut}`);
    assert.deepEqual(got.filter((f) => f.kind === 'port'), [{ kind: 'port', portIndex: 0, error: false, port: 8080 }]);
    assert.ok(d.prefixed(0));
    assert.ok(!d.prefixed(1));
  }
  const d = new PortForwardDecoder(ports);
  for (const m of server) assert.ok(d.push(m).every((f) => f.kind !== 'malformed'));
  assert.deepEqual(d.push(Buffer.from([1, 0x6f, 0x6f])), [{ kind: 'error', portIndex: 0, data: Buffer.from('oo') }]);
  assert.equal(new PortForwardDecoder(ports).push(Buffer.from([4, 1, 2]))[0].kind, 'malformed');
  assert.equal(new PortForwardDecoder(ports).push(Buffer.concat([Buffer.from([2]), encodePortPrefix(444)]))[0].kind, 'malformed');
  assert.deepEqual(new PortForwardDecoder(ports).push(Buffer.alloc(0)), [{ kind: 'empty' }]);
});

test('port-forward ports are read from the query as the API server reads them', () => {
  assert.deepEqual(parseForwardPorts(new URLSearchParams('ports=8080&ports=9090')), [8080, 9090]);
  assert.deepEqual(parseForwardPorts(new URLSearchParams('ports=80,443')), [80, 443]);
  for (const bad of ['', 'ports=0', 'ports=65536', 'ports=http', 'ports=8080&ports=', 'ports=1e3']) {
    assert.equal(parseForwardPorts(new URLSearchParams(bad)), null, bad);
  }
});
