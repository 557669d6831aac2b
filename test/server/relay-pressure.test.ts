import { expect } from 'chai';
import { RelayPressure } from '../../server/relay/relay-pressure.js';

describe('RelayPressure (flow control of the node hop)', () => {
  it('closes at the high mark while connected, opens at the low mark, and wakes every waiter once', async () => {
    const p = new RelayPressure(10, 5);
    const woken: string[] = [];
    p.update(9, true);
    expect(p.closed).to.equal(false);
    p.update(10, true);
    expect(p.closed).to.equal(true);
    p.onOpen(() => woken.push('session'));
    const push = p.whenOpen().then(() => woken.push('http'));
    p.update(6, true); // between the marks: still closed (no flapping)
    expect(p.closed).to.equal(true);
    p.update(5, true);
    await push;
    expect(p.closed).to.equal(false);
    expect(woken).to.deep.equal(['session', 'http']);
  });

  it('opens when RabbitMQ is lost and never closes while it is unreachable: the buffer refuses instead', () => {
    const p = new RelayPressure(10, 5);
    p.update(50, true);
    expect(p.closed).to.equal(true);
    p.update(50, false);
    expect(p.closed).to.equal(false);
    p.update(100, false);
    expect(p.closed).to.equal(false);
    expect(() => new RelayPressure(5, 5)).to.throw(RangeError);
  });
});
