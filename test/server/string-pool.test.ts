import { expect } from 'chai';
import { StringPool } from '../../server/messaging/string-pool.js';

// What a pool saves (one copy of a string many sessions keep) shows in a heap snapshot, not to
// `===`; these tests hold it to its bounds, which is what keeps a flood of distinct strings harmless.
describe('string pool', function () {
  it('gives back a string equal to the one given, and keeps one entry per distinct string', function () {
    const pool = new StringPool(10, 20);
    // Built at run time, so that each is a string of its own, as a decoded header value is.
    const a1 = ['/topic', 'docs'].join('/');
    const a2 = ['/topic', 'docs'].join('/');
    expect(pool.intern(a1)).to.equal('/topic/docs');
    expect(pool.intern(a2)).to.equal('/topic/docs');
    expect(pool.size).to.equal(1);
    expect(pool.intern('sub-0')).to.equal('sub-0');
    expect(pool.size).to.equal(2);
  });

  it('keeps no string longer than its limit', function () {
    const pool = new StringPool(10, 20);
    const long = 'x'.repeat(21);
    expect(pool.intern(long)).to.equal(long);
    expect(pool.size).to.equal(0);
    expect(pool.intern('x'.repeat(20))).to.equal('x'.repeat(20));
    expect(pool.size).to.equal(1);
  });

  it('holds at most its number of strings, however many distinct ones come', function () {
    const pool = new StringPool(100, 20);
    let most = 0;
    for (let i = 0; i < 1_000; i++) {
      expect(pool.intern(`/queue/q${i}`)).to.equal(`/queue/q${i}`);
      most = Math.max(most, pool.size);
    }
    expect(most).to.equal(100);
    expect(pool.size).to.be.at.most(100);
  });
});
