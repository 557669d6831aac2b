import { expect } from 'chai';
import fc from 'fast-check';
import { DestinationPatternError, compilePattern, isPattern } from '../../server/destinations/destination-pattern.js';
import {
  OVERFLOW_ROUTING_KEY,
  RabbitTopology,
  broadcastBindingKeys,
  broadcastRoutingKey,
  isValidNodeId,
} from '../../server/broker/rabbit-topology.js';

/** RabbitMQ's topic rule: words split on `.`, `*` is exactly one word, `#` zero or more. */
function topicMatches(bindingKey: string, routingKey: string): boolean {
  const b = bindingKey.split('.');
  const r = routingKey.split('.');
  const go = (i: number, j: number): boolean => {
    if (i === b.length) return j === r.length;
    if (b[i] === '#') return go(i + 1, j) || (j < r.length && go(i, j + 1));
    return j < r.length && (b[i] === '*' || b[i] === r[j]) && go(i + 1, j + 1);
  };
  return go(0, 0);
}

function reaches(destinationOrPattern: string, destination: string): boolean {
  const key = broadcastRoutingKey(destination);
  return broadcastBindingKeys(destinationOrPattern).some((b) => topicMatches(b, key));
}

describe('destination patterns (broker bindings)', function () {
  // From Spring's AntPathMatcherTests.match, minus its empty-segment cases (segments are significant here).
  const cases: [pattern: string, destination: string, matches: boolean][] = [
    ['test', 'test', true],
    ['/test', '/test', true],
    ['/test.jpg', 'test.jpg', false],
    ['test', '/test', false],
    ['/test', 'test', false],
    ['t?st', 'test', true],
    ['??st', 'test', true],
    ['tes?', 'test', true],
    ['te??', 'test', true],
    ['?es?', 'test', true],
    ['tes?', 'tes', false],
    ['tes?', 'testt', false],
    ['tes?', 'tsst', false],
    ['*', 'test', true],
    ['test*', 'test', true],
    ['test*', 'testTest', true],
    ['test/*', 'test/Test', true],
    ['test/*', 'test/t', true],
    ['test/*', 'test/', true],
    ['*test*', 'AnothertestTest', true],
    ['*test', 'Anothertest', true],
    ['*.*', 'test.', true],
    ['*.*', 'test.test.test', true],
    ['test*aaa', 'testblaaaa', true],
    ['test*', 'tst', false],
    ['test*', 'tsttest', false],
    ['test*', 'test/', false],
    ['test*', 'test/t', false],
    ['test/*', 'test', false],
    ['*test*', 'tsttst', false],
    ['*.*', 'tsttst', false],
    ['test*aaa', 'test', false],
    ['test*aaa', 'testblaaab', false],
    ['/?', '/a', true],
    ['/?/a', '/a/a', true],
    ['/a/?', '/a/b', true],
    ['/??/a', '/aa/a', true],
    ['/a/??', '/a/bb', true],
    ['/**', '/testing/testing', true],
    ['/*/**', '/testing/testing', true],
    ['/**/*', '/testing/testing', true],
    ['/bla/**/bla', '/bla/testing/testing/bla', true],
    ['/bla/**/bla', '/bla/testing/testing/bla/bla', true],
    ['/**/test', '/bla/bla/test', true],
    ['/bla/**/**/bla', '/bla/bla/bla/bla/bla/bla', true],
    ['/bla*bla/test', '/blaXXXbla/test', true],
    ['/*bla/test', '/XXXbla/test', true],
    ['/bla*bla/test', '/blaXXXbl/test', false],
    ['/*bla/test', 'XXXblab/test', false],
    ['/????', '/bala/bla', false],
    ['/**/*bla', '/bla/bla/bla/bbb', false],
    ['/*bla*/**/bla/**', '/XXXblaXXXX/testing/testing/bla/testing/testing/', true],
    ['/*bla*/**/bla/*', '/XXXblaXXXX/testing/testing/bla/testing', true],
    ['*bla*/**/bla/*', 'XXXblaXXXX/testing/testing/bla/testing/testing', false],
    ['/x/x/**/bla', '/x/x/x/', false],
    ['/foo/bar/**', '/foo/bar', true],
    ['', '', true],
    ['/{bla}.*', '/testing.html', true],
    ['/topic/docs/{id}/edits', '/topic/docs/42/edits', true],
    ['/topic/docs/{id}/edits', '/topic/docs/4/2/edits', false],
    ['/topic/docs/{id:\\d+}/edits', '/topic/docs/42/edits', true],
    ['/topic/docs/{id:\\d+}/edits', '/topic/docs/4a/edits', false],
    ['/topic/{id:[a-z]{2}}', '/topic/ab', true],
    ['/topic/{id:[a-z]{2}}', '/topic/abc', false],
    ['/topic/a.b', '/topic/a.b', true],
  ];
  for (const [pattern, destination, expected] of cases) {
    it(`${expected ? 'matches' : 'does not match'} ${JSON.stringify(destination)} with ${JSON.stringify(pattern)}`, function () {
      expect(compilePattern(pattern)(destination)).to.equal(expected);
    });
  }

  it('tells patterns (with *, ? or {) from plain destinations', function () {
    expect(['/topic/*', '/topic/a?', '/topic/{id}', '/topic/**'].map(isPattern)).to.deep.equal([
      true,
      true,
      true,
      true,
    ]);
    expect(['/topic/a', '/topic/a.b', '/topic/a}'].map(isPattern)).to.deep.equal([false, false, false]);
  });

  it('refuses over-long patterns, unbalanced braces and regexes that backtrack catastrophically', function () {
    for (const bad of [
      `/topic/*${'a'.repeat(300)}`,
      '/topic/{id',
      '/topic/a}{b',
      '/topic/{id:(a+)+}',
      '/topic/{id:(\\w*)*x}',
      '/topic/{id:(a)\\1}',
      '/topic/{id:[}',
    ]) {
      expect(() => compilePattern(bad), bad).to.throw(DestinationPatternError);
    }
  });
});

describe('RabbitMQ topology names and keys', function () {
  it('builds every name from the prefix and the node id', function () {
    const t = new RabbitTopology('stomp.');
    expect([
      t.relayExchange,
      t.broadcastExchange,
      t.nodeQueue('n1'),
      t.nodeBroadcastExchange('n1'),
      t.nodeRoutingKey('n1'),
    ]).to.deep.equal(['stomp.relay', 'stomp.broadcast', 'stomp.node.n1', 'stomp.node-broadcast.n1', 'n1']);
  });

  it('refuses node ids and prefixes that could spell AMQP syntax or another name', function () {
    for (const id of ['', 'a#b', 'a*', '.hidden', 'a b', 'x'.repeat(65), 'ü'])
      expect(isValidNodeId(id), id).to.equal(false);
    expect(() => new RabbitTopology('stomp.').nodeQueue('a#b')).to.throw(/invalid node id/);
    expect(() => new RabbitTopology('amq.x.')).to.throw(/prefix/);
    expect(() => new RabbitTopology('a b')).to.throw(/prefix/);
  });

  it('turns destinations into routing keys where ., *, # and % inside a segment stay literal', function () {
    expect(broadcastRoutingKey('/topic/docs/42')).to.equal('.topic.docs.42');
    expect(broadcastRoutingKey('/topic/a.b/*/#/%')).to.equal('.topic.a%2Eb.%2A.%23.%25');
    expect(broadcastRoutingKey(`/topic/${'x'.repeat(300)}`)).to.equal(OVERFLOW_ROUTING_KEY);
  });

  it('turns patterns into binding keys: ** → #, a wildcard segment → *', function () {
    expect(broadcastBindingKeys('/topic/news')).to.deep.equal(['.topic.news']);
    expect(broadcastBindingKeys('/topic/docs/*/edits')).to.deep.equal(['.topic.docs.*.edits', OVERFLOW_ROUTING_KEY]);
    expect(broadcastBindingKeys('/topic/docs/{id}/**')).to.deep.equal(['.topic.docs.*.#', OVERFLOW_ROUTING_KEY]);
    expect(broadcastBindingKeys('/topic/f*o/a.b')).to.deep.equal(['.topic.*.a%2Eb', OVERFLOW_ROUTING_KEY]);
    expect(broadcastBindingKeys(`/topic/*/${'x'.repeat(300)}`)).to.deep.equal(['#']);
  });

  it('never binds narrower than the pattern matches (every match is routed to the binder)', function () {
    const literal = fc.constantFrom('a', 'b', 'ab', 'a.b', '%', '#', '*x', '', 'x%2E', 'ü');
    const token = fc.oneof(literal, fc.constantFrom('**', '*', 'a*', '*b', '{id}', '{id:[ab]+}', '?', 'a?'));
    const segment = fc.oneof(literal, fc.stringMatching(/^[ab.*#%]{0,3}$/));
    fc.assert(
      fc.property(fc.array(token, { maxLength: 5 }), fc.array(segment, { maxLength: 6 }), (tokens, segments) => {
        const pattern = `/${tokens.join('/')}`;
        const destination = `/${segments.join('/')}`;
        if (compilePattern(pattern)(destination))
          expect(reaches(pattern, destination), `${pattern} ← ${destination}`).to.equal(true);
      }),
      { numRuns: 3000 },
    );
    // Random pairs rarely match, so also derive matching destinations from each pattern.
    const char = fc.constantFrom('a', 'b', '.', '#', '%', '*', 'ü');
    const instance = (t: string): fc.Arbitrary<string[]> => {
      switch (t) {
        case '**':
          return fc.array(segment, { maxLength: 3 });
        case '*':
        case '{id}':
          return segment.map((x) => [x]);
        case 'a*':
          return segment.map((x) => [`a${x}`]);
        case '*b':
          return segment.map((x) => [`${x}b`]);
        case '{id:[ab]+}':
          return fc.stringMatching(/^[ab]{1,3}$/).map((x) => [x]);
        case '?':
          return char.map((x) => [x]);
        case 'a?':
          return char.map((x) => [`a${x}`]);
        default:
          return fc.constant([t]);
      }
    };
    const matchingPair = fc.array(token, { maxLength: 5 }).chain((tokens) =>
      fc.tuple(
        fc.constant(`/${tokens.join('/')}`),
        fc.tuple(...tokens.map(instance)).map((parts) => `/${parts.flat().join('/')}`),
      ),
    );
    fc.assert(
      fc.property(matchingPair, ([pattern, destination]) => {
        expect(compilePattern(pattern)(destination), `${pattern} ~ ${destination}`).to.equal(true);
        expect(reaches(pattern, destination), `${pattern} ← ${destination}`).to.equal(true);
      }),
      { numRuns: 3000 },
    );
    for (const [p, d] of [
      ['/**', '/a.b/#/%'],
      ['/a*/**/b', '/ab/x/y/b'],
      ['/{id}/?', '/a.b/%'],
      ['/*', `/${'y'.repeat(400)}`],
    ] as const) {
      expect(compilePattern(p)(d), `${p} ~ ${d}`).to.equal(true);
      expect(reaches(p, d), `${p} ← ${d}`).to.equal(true);
    }
  });
});
