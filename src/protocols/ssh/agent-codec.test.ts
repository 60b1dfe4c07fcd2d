/**
 * The agent protocol codec: frames cut at every split point, oversized frames refused, and which requests a target
 * may send to the caller's agent (list keys, sign, session-bind) versus those it may not (add, remove, lock, ...).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AGENT_MAX_MESSAGE, AgentFrames, agentRequest } from './agent-codec.js';

function frame(type: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...parts]);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

function sshString(value: Buffer | string): Buffer {
  const bytes = Buffer.from(value);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(bytes.length);
  return Buffer.concat([head, bytes]);
}

const LIST = frame(11);
const SIGN = frame(13, sshString(Buffer.from('key-blob')), sshString('data'), Buffer.alloc(4));
const REMOVE_ALL = frame(19);

describe('AgentFrames', () => {
  it('cuts the same frames at every split point', () => {
    const stream = Buffer.concat([LIST, SIGN, REMOVE_ALL]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const frames = new AgentFrames();
      const out = [...frames.push(stream.subarray(0, cut)), ...frames.push(stream.subarray(cut))];
      assert.deepEqual(out, [LIST, SIGN, REMOVE_ALL], `cut ${cut}`);
    }
    const frames = new AgentFrames();
    const bytewise = [...stream].flatMap((b) => frames.push(Buffer.from([b])));
    assert.deepEqual(bytewise, [LIST, SIGN, REMOVE_ALL]);
  });

  it('refuses an empty or oversized frame before buffering it', () => {
    const big = Buffer.alloc(4);
    big.writeUInt32BE(AGENT_MAX_MESSAGE + 1);
    assert.throws(() => new AgentFrames().push(big), /agent message/);
    assert.throws(() => new AgentFrames().push(Buffer.alloc(4)), /agent message/);
  });
});

describe('agentRequest', () => {
  it('lets a target list keys and ask for signatures, naming the key', () => {
    assert.deepEqual(agentRequest(LIST), { allowed: true, name: 'list keys' });
    const sign = agentRequest(SIGN);
    assert.equal(sign.allowed, true);
    assert.match(sign.key ?? '', /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('refuses adding, removing and locking keys, smartcards, unknown types and truncated requests', () => {
    for (const type of [9, 17, 18, 19, 20, 21, 22, 23, 25, 26, 99]) assert.equal(agentRequest(frame(type)).allowed, false, `type ${type}`);
    assert.equal(agentRequest(frame(11, Buffer.from([0]))).allowed, false, 'list with a body');
    assert.equal(agentRequest(frame(13, Buffer.from([0, 0, 0, 9, 1]))).allowed, false, 'sign with a cut key');
  });

  it('allows only the session-bind extension', () => {
    assert.equal(agentRequest(frame(27, sshString('session-bind@openssh.com'), Buffer.alloc(8))).allowed, true);
    assert.equal(agentRequest(frame(27, sshString('query'))).allowed, false);
    assert.equal(agentRequest(frame(27)).allowed, false);
  });
});
