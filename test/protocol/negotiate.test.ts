import { expect } from 'chai';
import {
  MAX_HEARTBEAT_MS,
  STOMP_SUBPROTOCOLS,
  SUPPORTED_VERSIONS,
  SUPPORTED_VERSIONS_HEADER,
  StompErrorCode,
  StompProtocolError,
  negotiateHeartbeat,
  negotiateVersion,
  parseHeartbeat,
  subprotocolVersion,
} from '../../protocol/index.js';

describe('negotiateVersion', () => {
  it('treats a missing accept-version as a 1.0 client (STOMP spec)', () => {
    expect(negotiateVersion(undefined)).to.equal('1.0');
  });

  it('picks the highest version offered, whatever the order', () => {
    expect(negotiateVersion('1.2,1.1,1.0')).to.equal('1.2');
    expect(negotiateVersion('1.0,1.2')).to.equal('1.2');
    expect(negotiateVersion('1.1,1.0')).to.equal('1.1');
    expect(negotiateVersion('1.0')).to.equal('1.0');
    expect(negotiateVersion('2.0,1.1')).to.equal('1.1');
  });

  it('does not trim, as Spring: "1.1, 1.2" yields 1.1', () => {
    expect(negotiateVersion('1.1, 1.2')).to.equal('1.1');
    expect(negotiateVersion(' 1.2')).to.equal(null);
  });

  it('returns null when nothing offered is supported', () => {
    expect(negotiateVersion('2.0')).to.equal(null);
    expect(negotiateVersion('')).to.equal(null);
    expect(negotiateVersion('1.2.0')).to.equal(null);
  });

  it('lists the supported versions best first, also as a header value', () => {
    expect(SUPPORTED_VERSIONS).to.deep.equal(['1.2', '1.1', '1.0']);
    expect(SUPPORTED_VERSIONS_HEADER).to.equal(SUPPORTED_VERSIONS.join(','));
  });
});

describe('parseHeartbeat', () => {
  it('reads cx,cy and treats a missing header as 0,0', () => {
    expect(parseHeartbeat('10000,10000')).to.deep.equal([10000, 10000]);
    expect(parseHeartbeat('0,500')).to.deep.equal([0, 500]);
    expect(parseHeartbeat(undefined)).to.deep.equal([0, 0]);
  });

  it('accepts up to the longest delay a timer supports', () => {
    expect(parseHeartbeat(`${MAX_HEARTBEAT_MS},0`)).to.deep.equal([2 ** 31 - 1, 0]);
  });

  it('rejects anything but two non-negative integers without spaces', () => {
    const bad = [
      '10000, 10000',
      ' 1,1',
      '1,1 ',
      '1',
      '1,',
      ',1',
      '',
      '-1,0',
      '1.5,0',
      '1,2,3',
      'a,b',
      '0x1,0',
      '1e3,0',
    ];
    for (const value of bad) {
      expect(() => parseHeartbeat(value), value)
        .to.throw(StompProtocolError, `Invalid heart-beat header '${value}'`)
        .with.property('code', StompErrorCode.BAD_HEARTBEAT);
    }
  });

  it('rejects absurd values', () => {
    for (const value of [`${2 ** 31},0`, `0,${2 ** 31}`, `${'9'.repeat(400)},0`]) {
      expect(() => parseHeartbeat(value), value)
        .to.throw(StompProtocolError)
        .with.property('code', StompErrorCode.BAD_HEARTBEAT);
    }
  });

  it('never echoes control characters', () => {
    expect(() => parseHeartbeat('1,\n1')).to.throw("Invalid heart-beat header '1,\\n1'");
  });
});

describe('negotiateHeartbeat', () => {
  it('sends every max(sx, cy) and expects every max(cx, sy) (STOMP 1.2 "Heart-beating")', () => {
    expect(negotiateHeartbeat([10000, 10000], [5000, 20000])).to.deep.equal({
      sendEveryMs: 10000,
      expectEveryMs: 20000,
    });
    expect(negotiateHeartbeat([4000, 7000], [10000, 10000])).to.deep.equal({
      sendEveryMs: 10000,
      expectEveryMs: 10000,
    });
  });

  it('disables a direction when either side says 0', () => {
    expect(negotiateHeartbeat([10000, 10000], [0, 0])).to.deep.equal({ sendEveryMs: 0, expectEveryMs: 0 });
    expect(negotiateHeartbeat([0, 10000], [10000, 10000])).to.deep.equal({ sendEveryMs: 10000, expectEveryMs: 0 });
    expect(negotiateHeartbeat([10000, 0], [10000, 10000])).to.deep.equal({ sendEveryMs: 0, expectEveryMs: 10000 });
    expect(negotiateHeartbeat([10000, 10000], [0, 10000])).to.deep.equal({ sendEveryMs: 0, expectEveryMs: 10000 });
  });
});

describe('subprotocolVersion', () => {
  it("picks the first STOMP subprotocol in the client's order", () => {
    expect(subprotocolVersion(['v12.stomp', 'v11.stomp', 'v10.stomp'])).to.equal('v12.stomp');
    expect(subprotocolVersion(['v10.stomp', 'v12.stomp'])).to.equal('v10.stomp');
    expect(subprotocolVersion(new Set(['mqtt', 'v11.stomp']))).to.equal('v11.stomp');
  });

  it("matches case-insensitively, as Spring, and echoes the client's spelling", () => {
    expect(subprotocolVersion(['V12.STOMP'])).to.equal('V12.STOMP');
  });

  it('returns false when nothing matches', () => {
    expect(subprotocolVersion([])).to.equal(false);
    expect(subprotocolVersion(['mqtt', 'v13.stomp', 'stomp'])).to.equal(false);
  });

  it('lists the accepted subprotocols best first', () => {
    expect(STOMP_SUBPROTOCOLS).to.deep.equal(['v12.stomp', 'v11.stomp', 'v10.stomp']);
  });
});
