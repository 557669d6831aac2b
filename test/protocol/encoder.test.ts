import { expect } from 'chai';
import { EMPTY_BODY, FrameDecoder, HEARTBEAT_EOL, encodeFrame } from '../../protocol/index.js';
import type { Frame } from '../../protocol/index.js';

function text(frame: Frame, version: '1.0' | '1.1' | '1.2' = '1.2'): string {
  return encodeFrame(frame, version).toString('utf8');
}

describe('encodeFrame', () => {
  it('writes command, headers, blank line, body and NUL, with LF only', () => {
    const frame: Frame = {
      command: 'MESSAGE',
      headers: [
        ['destination', '/topic/a'],
        ['subscription', 'sub-1'],
        ['content-length', '5'],
      ],
      body: Buffer.from('hello'),
    };
    expect(text(frame)).to.equal('MESSAGE\ndestination:/topic/a\nsubscription:sub-1\ncontent-length:5\n\nhello\0');
  });

  it('writes the CONNECTED frame Spring sends', () => {
    const frame: Frame = {
      command: 'CONNECTED',
      headers: [
        ['version', '1.2'],
        ['heart-beat', '0,0'],
        ['user-name', 'alice'],
      ],
      body: EMPTY_BODY,
    };
    expect(text(frame)).to.equal('CONNECTED\nversion:1.2\nheart-beat:0,0\nuser-name:alice\n\n\0');
  });

  it('keeps header order and repeats, and adds no header of its own', () => {
    const frame: Frame = {
      command: 'RECEIPT',
      headers: [
        ['a', '2'],
        ['a', '1'],
      ],
      body: EMPTY_BODY,
    };
    expect(text(frame)).to.equal('RECEIPT\na:2\na:1\n\n\0');
  });

  it('escapes names and values of MESSAGE, RECEIPT and ERROR per version', () => {
    const frame: Frame = {
      command: 'ERROR',
      headers: [
        ['message', "Illegal header: 'x'"],
        ['k:\\', 'a\nb\rc'],
      ],
      body: EMPTY_BODY,
    };
    expect(text(frame, '1.2')).to.equal("ERROR\nmessage:Illegal header\\c 'x'\nk\\c\\\\:a\\nb\\rc\n\n\0");
    expect(text(frame, '1.1')).to.equal("ERROR\nmessage:Illegal header\\c 'x'\nk\\c\\\\:a\\nb\\rc\n\n\0");
    expect(text(frame, '1.0')).to.equal("ERROR\nmessage:Illegal header: 'x'\nk:\\:a\\nb\\rc\n\n\0");
  });

  it('never escapes CONNECT, STOMP and CONNECTED headers, but still keeps CR and LF out of them', () => {
    for (const command of ['CONNECT', 'STOMP', 'CONNECTED'] as const) {
      const frame: Frame = { command, headers: [['user-name', 'a:b\\c\nx:y']], body: EMPTY_BODY };
      expect(text(frame, '1.2')).to.equal(`${command}\nuser-name:a:b\\c\\nx:y\n\n\0`);
    }
  });

  it('copies a binary body verbatim, NULs included', () => {
    const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const out = encodeFrame({ command: 'MESSAGE', headers: [['content-length', '256']], body }, '1.2');
    const head = Buffer.from('MESSAGE\ncontent-length:256\n\n');
    expect(out.length).to.equal(head.length + 256 + 1);
    expect(out.subarray(0, head.length).equals(head)).to.equal(true);
    expect(out.subarray(head.length, head.length + 256).equals(body)).to.equal(true);
    expect(out[out.length - 1]).to.equal(0);
  });

  it('sizes multi-byte UTF-8 headers by bytes, not characters', () => {
    const out = encodeFrame({ command: 'SEND', headers: [['destination', '/q/é🚀']], body: Buffer.from('ü') }, '1.2');
    expect(out.equals(Buffer.from('SEND\ndestination:/q/é🚀\n\nü\0'))).to.equal(true);
  });

  it('produces what the decoder reads back', () => {
    const frame: Frame = {
      command: 'MESSAGE',
      headers: [
        ['destination', '/topic/x'],
        ['odd:name', 'v\\a\nl\rue'],
        ['content-length', '3'],
      ],
      body: Buffer.from([0, 1, 0]),
    };
    const [event] = new FrameDecoder().push(encodeFrame(frame, '1.2'));
    expect(event?.kind === 'frame' && event.frame.headers).to.deep.equal(frame.headers);
    expect(event?.kind === 'frame' && event.frame.body.equals(frame.body)).to.equal(true);
  });
});

describe('HEARTBEAT_EOL', () => {
  it('is a single LF', () => {
    expect([...HEARTBEAT_EOL]).to.deep.equal([0x0a]);
  });
});
