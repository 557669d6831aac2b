import { expect } from 'chai';
import type { RelayMessage } from '../../server/relay/relay-message.js';
import type { OfflineDropListener, OfflineDropReason } from '../../server/store/offline-drop.js';
import type { OfflineStore, OfflineStoreLimits } from '../../server/store/offline-store.js';

export interface StoreFixture {
  readonly store: OfflineStore;
  /** Closes the store and removes whatever it kept. */
  cleanup(): Promise<void>;
}

/** A fresh, empty store with these limits, reading time from `now` and reporting drops. */
export type MakeStore = (
  limits: OfflineStoreLimits,
  now: () => number,
  onDropped: OfflineDropListener,
) => Promise<StoreFixture>;

/** A user message as the relay would store it. */
export function userMessage(id: string, user = 'alice', extra: Partial<RelayMessage> = {}): RelayMessage {
  return {
    id,
    target: { kind: 'user', user },
    destination: '/queue/chat',
    headers: [['content-type', 'text/plain']],
    body: Buffer.from(`body of ${id}`),
    origin: 'n1',
    sentAt: 1_700_000_000_000,
    ...extra,
  };
}

/** The OfflineStore behaviour every backend shows, with a fake clock (no sleeps). */
export function storeContract(name: string, makeStore: MakeStore): void {
  describe(`OfflineStore contract: ${name}`, () => {
    const CHAT = '/user/queue/chat';
    const DOC_CHAT = '/user/42/queue/chat';
    let fixture: StoreFixture | undefined;
    let clock = 0;
    let drops: Array<[string, number, OfflineDropReason]> = [];

    async function open(limits: Partial<OfflineStoreLimits> = {}): Promise<OfflineStore> {
      clock = 1_700_000_000_000;
      drops = [];
      fixture = await makeStore(
        { maxPerUser: 100, retentionMs: 60_000, ...limits },
        () => clock,
        (user, n, reason) => drops.push([user, n, reason]),
      );
      return fixture.store;
    }

    const ids = (msgs: RelayMessage[]): string[] => msgs.map((m) => m.id);

    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });

    it('returns the messages of one subscription in the order they were stored, and keeps the others', async () => {
      const store = await open();
      await store.append('alice', CHAT, userMessage('1'));
      await store.append('alice', DOC_CHAT, userMessage('2'));
      await store.append('alice', CHAT, userMessage('3'));
      await store.append('alice', DOC_CHAT, userMessage('4'));
      expect(await store.count('alice')).to.equal(4);
      expect(ids(await store.take('alice', CHAT))).to.deep.equal(['1', '3']);
      expect(await store.count('alice')).to.equal(2);
      expect(ids(await store.take('alice', DOC_CHAT))).to.deep.equal(['2', '4']);
      expect(await store.count('alice')).to.equal(0);
    });

    it('returns each message once, even to takes running at the same time', async () => {
      const store = await open();
      for (let i = 0; i < 20; i++) await store.append('alice', CHAT, userMessage(String(i)));
      const results = await Promise.all([
        store.take('alice', CHAT),
        store.take('alice', CHAT),
        store.take('alice', CHAT),
      ]);
      const all = results.flatMap(ids);
      expect(all.sort((a, b) => Number(a) - Number(b))).to.deep.equal(Array.from({ length: 20 }, (_, i) => String(i)));
      expect(await store.take('alice', CHAT)).to.deep.equal([]);
    });

    it('keeps users apart, including ids with separators', async () => {
      const store = await open();
      await store.append('alice', CHAT, userMessage('a1'));
      await store.append('a:b*', CHAT, userMessage('ab1', 'a:b*'));
      await store.append('bob', CHAT, userMessage('b1', 'bob'));
      expect(ids(await store.take('bob', CHAT))).to.deep.equal(['b1']);
      expect(await store.take('a', CHAT)).to.deep.equal([]);
      expect(ids(await store.take('a:b*', CHAT))).to.deep.equal(['ab1']);
      expect(ids(await store.take('alice', CHAT))).to.deep.equal(['a1']);
    });

    it('keeps at most maxPerUser messages per user, dropping the oldest, and reports the drops', async () => {
      const store = await open({ maxPerUser: 3 });
      for (let i = 1; i <= 5; i++) await store.append('alice', i % 2 ? CHAT : DOC_CHAT, userMessage(String(i)));
      await store.append('bob', CHAT, userMessage('b1', 'bob'));
      expect(await store.count('alice')).to.equal(3);
      expect(await store.count('bob')).to.equal(1);
      expect(ids(await store.take('alice', CHAT))).to.deep.equal(['3', '5']);
      expect(ids(await store.take('alice', DOC_CHAT))).to.deep.equal(['4']);
      expect(drops).to.deep.equal([
        ['alice', 1, 'bound'],
        ['alice', 1, 'bound'],
      ]);
    });

    it('drops messages older than the retention time', async () => {
      const store = await open({ retentionMs: 60_000 });
      await store.append('alice', CHAT, userMessage('old'));
      clock += 30_000;
      await store.append('alice', CHAT, userMessage('newer'));
      clock += 30_000; // 'old' is now exactly retentionMs old
      expect(await store.count('alice')).to.equal(1);
      expect(ids(await store.take('alice', CHAT))).to.deep.equal(['newer']);
      expect(drops).to.deep.include(['alice', 1, 'expired']);

      await store.append('alice', CHAT, userMessage('later'));
      clock += 60_000;
      expect(await store.take('alice', CHAT)).to.deep.equal([]);
      expect(await store.count('alice')).to.equal(0);
    });

    it('gives back the message as stored: target, headers, binary body, redelivered flag', async () => {
      const store = await open();
      const body = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x00, 0xe2, 0x82, 0xac]);
      const msg = userMessage('m1', 'alice', {
        target: { kind: 'user', user: 'alice', sessionId: 'sess-7' },
        destination: '/42/queue/chat',
        headers: [
          ['content-type', 'application/octet-stream'],
          ['x-note', 'a:b\\c €'],
          ['x-note', 'second wins nothing'],
        ],
        body,
        redelivered: true,
      });
      await store.append('alice', DOC_CHAT, msg);
      const [back] = await store.take('alice', DOC_CHAT);
      expect(back).to.deep.equal(msg);
      expect(Buffer.isBuffer(back?.body)).to.equal(true);
    });

    it('answers an empty list and zero for a user it never saw', async () => {
      const store = await open();
      expect(await store.take('nobody', CHAT)).to.deep.equal([]);
      expect(await store.count('nobody')).to.equal(0);
    });
  });
}
