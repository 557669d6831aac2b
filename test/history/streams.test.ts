import { expect } from 'chai';
import { HistoryStreams } from '../../server/history/streams.js';

describe('history streams', () => {
  const streams = new HistoryStreams(['/user/*/queue/chat', '/user/queue/notes', '/topic/docs/**', '/queue/jobs']);

  it('names no stream at all when HISTORY_DESTINATIONS is empty', () => {
    const off = new HistoryStreams([]);
    expect(off.enabled).to.equal(false);
    expect(off.ofSubscription('/topic/docs/42', 'alice')).to.equal(undefined);
    expect(off.ofMessage({ target: { kind: 'broadcast' }, destination: '/topic/docs/42' })).to.equal(undefined);
    expect(streams.enabled).to.equal(true);
  });

  it('makes a concrete /topic or /queue destination its own stream, the same for every subscriber', () => {
    expect(streams.ofSubscription('/topic/docs/42/edits', 'alice')).to.equal('/topic/docs/42/edits');
    expect(streams.ofSubscription('/topic/docs/42/edits', 'bob')).to.equal('/topic/docs/42/edits');
    expect(streams.ofSubscription('/queue/jobs', 'bob')).to.equal('/queue/jobs');
  });

  it('makes one stream per user of a subscribed user destination, with or without a document', () => {
    expect(streams.ofSubscription('/user/42/queue/chat', 'alice')).to.equal('/user/alice/42/queue/chat');
    expect(streams.ofSubscription('/user/42/queue/chat', 'bob')).to.equal('/user/bob/42/queue/chat');
    expect(streams.ofSubscription('/user/queue/notes', 'alice')).to.equal('/user/alice/queue/notes');
  });

  it('keeps users apart even when a name contains / or %', () => {
    const a = streams.ofSubscription('/user/queue/notes', 'a/42');
    const b = streams.ofSubscription('/user/42/queue/chat', 'a');
    expect(a).to.equal('/user/a%2F42/queue/notes');
    expect(a).to.not.equal(b);
    expect(streams.ofSubscription('/user/queue/notes', 'a%2F42')).to.not.equal(a);
  });

  it('names no stream for destinations outside the patterns, pattern subscriptions, /app and unknown prefixes', () => {
    for (const d of [
      '/topic/chat',
      '/topic/docs/**',
      '/topic/docs/*/edits',
      '/user/*/queue/chat',
      '/queue/other',
      '/app/docs/42',
      '/other/docs/1',
    ]) {
      expect(streams.ofSubscription(d, 'alice'), d).to.equal(undefined);
    }
  });

  it('gives an accepted message the stream its exact subscribers follow', () => {
    expect(streams.ofMessage({ target: { kind: 'broadcast' }, destination: '/topic/docs/42/edits' })).to.equal(
      streams.ofSubscription('/topic/docs/42/edits', 'anyone'),
    );
    expect(streams.ofMessage({ target: { kind: 'user', user: 'alice' }, destination: '/42/queue/chat' })).to.equal(
      streams.ofSubscription('/user/42/queue/chat', 'alice'),
    );
    expect(streams.ofMessage({ target: { kind: 'user', user: 'alice' }, destination: '/queue/notes' })).to.equal(
      '/user/alice/queue/notes',
    );
    expect(streams.ofMessage({ target: { kind: 'user', user: 'alice' }, destination: '/queue/other' })).to.equal(
      undefined,
    );
  });

  it('leaves a message for one session of a user out of every stream', () => {
    expect(
      streams.ofMessage({ target: { kind: 'user', user: 'alice', sessionId: 's1' }, destination: '/queue/notes' }),
    ).to.equal(undefined);
  });

  it('answers the same after its memory of destinations was cleared', () => {
    const s = new HistoryStreams(['/topic/**']);
    for (let i = 0; i < 2500; i++) expect(s.ofSubscription(`/topic/t${i}`, 'u')).to.equal(`/topic/t${i}`);
    expect(s.ofSubscription('/topic/t0', 'u')).to.equal('/topic/t0');
    expect(s.ofSubscription('/queue/t0', 'u')).to.equal(undefined);
  });
});
