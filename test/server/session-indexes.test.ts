import { expect } from 'chai';
import { addMember, memberCount, membersOf, removeMember, SMALL_MEMBERS, type Members } from '../../server/members.js';
import { RecentIds } from '../../server/messaging/recent-ids.js';
import {
  LocalSubscriptions,
  subscriptionSerial,
  type SessionHandle,
  type Subscription,
} from '../../server/messaging/subscriptions.js';
import { SessionIndex } from '../../server/registry/session-index.js';

// The node's indexes of its sessions hold one member without a Set, a few in an array
// (server/members.ts); these tests walk each through one, two, three members and past
// SMALL_MEMBERS and back, where the form changes.
describe('session indexes', function () {
  it('a set of members answers the same whether it holds one member or many', function () {
    const map = new Map<string, Members<string>>();
    expect(addMember(map, 'u', 's1')).to.equal(true);
    expect(addMember(map, 'u', 's1'), 'a member added twice').to.equal(false);
    expect(addMember(map, 'u', 's2')).to.equal(true);
    expect(addMember(map, 'u', 's3')).to.equal(true);
    expect(addMember(map, 'u', 's2')).to.equal(false);
    expect(memberCount(map.get('u'))).to.equal(3);
    expect([...membersOf(map.get('u'))]).to.deep.equal(['s1', 's2', 's3']);
    expect(removeMember(map, 'u', 'nope')).to.equal(false);
    expect(removeMember(map, 'u', 's1')).to.equal(true);
    expect(removeMember(map, 'u', 's3')).to.equal(true);
    expect(removeMember(map, 'u', 's3'), 'a member removed twice').to.equal(false);
    expect([...membersOf(map.get('u'))]).to.deep.equal(['s2']);
    expect(addMember(map, 'u', 's2'), 'the one member left, added again').to.equal(false);
    expect(removeMember(map, 'u', 's2')).to.equal(true);
    expect(map.has('u'), 'the key of an empty set').to.equal(false);
    expect(memberCount(map.get('u'))).to.equal(0);
    expect([...membersOf(map.get('u'))]).to.deep.equal([]);
  });

  it('a set of members keeps its members and their order up past SMALL_MEMBERS and back down', function () {
    const map = new Map<string, Members<string>>();
    const model: string[] = [];
    const check = (step: string): void => {
      expect([...membersOf(map.get('u'))], step).to.deep.equal(model);
      expect(memberCount(map.get('u')), step).to.equal(model.length);
      expect(map.has('u'), step).to.equal(model.length > 0);
    };
    const most = SMALL_MEMBERS * 2 + 1;
    for (let i = 0; i < most; i++) {
      expect(addMember(map, 'u', `s${i}`)).to.equal(true);
      model.push(`s${i}`);
      check(`after adding s${i}`);
      expect(addMember(map, 'u', `s${i}`), `s${i} added twice`).to.equal(false);
      check(`after adding s${i} twice`);
    }
    // Out of order (a fixed shuffle): from the middle and the ends of a set, then of an array.
    for (const i of Array.from({ length: most }, (_, k) => (k * 7) % most)) {
      const was = model.includes(`s${i}`);
      expect(removeMember(map, 'u', `s${i}`), `removing s${i}`).to.equal(was);
      if (was) model.splice(model.indexOf(`s${i}`), 1);
      check(`after removing s${i}`);
    }
  });

  it('a few members a caller is going through stay as they were while members come and go', function () {
    const map = new Map<string, Members<string>>();
    for (const m of ['a', 'b', 'c']) addMember(map, 'u', m);
    const seen: string[] = [];
    for (const m of membersOf(map.get('u'))) {
      seen.push(m);
      removeMember(map, 'u', m);
      addMember(map, 'u', `${m}2`);
    }
    expect(seen).to.deep.equal(['a', 'b', 'c']);
    expect([...membersOf(map.get('u'))]).to.deep.equal(['a2', 'b2', 'c2']);
  });

  it('a session drops a second copy of a message per subscription, within the last ids it saw', function () {
    const recent = new RecentIds<string>(3);
    expect(recent.add('m1', 'sub-a')).to.equal(true);
    expect(recent.add('m1', 'sub-b'), 'one message, two subscriptions of the session').to.equal(true);
    expect(recent.add('m1', 'sub-a'), 'the second copy').to.equal(false);
    expect(recent.add('m1', 'sub-b')).to.equal(false);
    expect(recent.add('m2', 'sub-a')).to.equal(true);
    expect(recent.add('m3', 'sub-a')).to.equal(true);
    expect(recent.add('m1', 'sub-a'), 'still among the last 3 ids').to.equal(false);
    expect(recent.add('m4', 'sub-a')).to.equal(true);
    expect(recent.add('m1', 'sub-a'), 'm1 was the oldest of 3 and made room for m4').to.equal(true);
    expect(recent.add('m3', 'sub-a')).to.equal(false);
  });

  it('the registry index counts sessions per user and per document, idempotently', function () {
    const index = new SessionIndex();
    expect(index.addSession('alice', 's1')).to.equal(true);
    expect(index.addSession('alice', 's1')).to.equal(false);
    expect(index.addSession('alice', 's2')).to.equal(true);
    expect(index.joinDoc('d1', 'alice', 's1')).to.equal(true);
    expect(index.joinDoc('d1', 'alice', 's2')).to.equal(true);
    expect(index.joinDoc('d1', 'bob', 's9')).to.equal(true);
    expect(index.sessions('alice')).to.equal(2);
    expect(index.sessions('alice', 'd1')).to.equal(2);
    expect(index.docUsers('d1')).to.deep.equal([
      ['alice', 2],
      ['bob', 1],
    ]);
    expect(index.snapshot()).to.deep.equal({
      users: [['alice', 2]],
      docs: [
        ['d1', 'alice', 2],
        ['d1', 'bob', 1],
      ],
    });
    expect(index.leaveDoc('d1', 'alice', 's1')).to.equal(true);
    expect(index.leaveDoc('d1', 'alice', 's1')).to.equal(false);
    expect(index.sessions('alice', 'd1')).to.equal(1);
    expect(index.leaveDoc('d1', 'alice', 's2')).to.equal(true);
    expect(index.leaveDoc('d1', 'bob', 's9')).to.equal(true);
    expect(index.removeSession('alice', 's2')).to.equal(true);
    expect(index.removeSession('alice', 's1')).to.equal(true);
    expect(index.removeSession('alice', 's1')).to.equal(false);
    expect(index.isEmpty()).to.equal(true);
  });

  it('the registry index answers the same for a document with one user as with many', function () {
    const index = new SessionIndex();
    expect(index.joinDoc('d2', 'carol', 's1')).to.equal(true);
    expect(index.joinDoc('d2', 'carol', 's1')).to.equal(false);
    expect(index.leaveDoc('d2', 'dave', 's1')).to.equal(false);
    expect(index.joinDoc('d2', 'carol', 's2')).to.equal(true);
    expect(index.joinDoc('d2', 'carol', 's2')).to.equal(false);
    expect(index.sessions('carol', 'd2')).to.equal(2);
    expect(index.sessions('dave', 'd2')).to.equal(0);
    expect(index.docUsers('d2')).to.deep.equal([['carol', 2]]);
    expect(index.snapshot().docs).to.deep.equal([['d2', 'carol', 2]]);
    expect(index.leaveDoc('d2', 'carol', 's3')).to.equal(false);
    expect(index.leaveDoc('d2', 'carol', 's1')).to.equal(true);
    expect(index.sessions('carol', 'd2')).to.equal(1);
    expect(index.leaveDoc('d2', 'carol', 's1')).to.equal(false);
    expect(index.leaveDoc('d2', 'carol', 's2')).to.equal(true);
    expect(index.docUsers('d2')).to.deep.equal([]);
    expect(index.isEmpty()).to.equal(true);
  });

  for (const count of [3, SMALL_MEMBERS, SMALL_MEMBERS * 2 + 1]) {
    it(`the registry index answers the same for a document as ${count} users join and leave`, function () {
      const index = new SessionIndex();
      const model = new Map<string, Set<string>>();
      const check = (step: string): void => {
        const want = [...model]
          .filter(([, s]) => s.size > 0)
          .map(([u, s]): [string, number] => [u, s.size])
          .sort((a, b) => (a[0] < b[0] ? -1 : 1));
        expect(index.docUsers('d'), step).to.deep.equal(want);
        for (const [u, s] of model) expect(index.sessions(u, 'd'), `${step}: ${u}`).to.equal(s.size);
      };
      const users = Array.from({ length: count }, (_, i) => `u${String(i).padStart(2, '0')}`);
      for (const [i, u] of users.entries()) {
        model.set(u, new Set());
        for (const s of i % 3 === 0 ? [`${u}-a`, `${u}-b`] : [`${u}-a`]) {
          expect(index.joinDoc('d', u, s), `${s} joins`).to.equal(true);
          expect(index.joinDoc('d', u, s), `${s} joins twice`).to.equal(false);
          model.get(u)?.add(s);
          check(`after ${s} joined`);
        }
      }
      // From the middle first, then from the end.
      for (const u of [users[1] as string, ...users.slice().reverse()]) {
        for (const s of [`${u}-b`, `${u}-a`]) {
          const was = model.get(u)?.has(s) ?? false;
          expect(index.leaveDoc('d', u, s), `${s} leaves`).to.equal(was);
          model.get(u)?.delete(s);
          check(`after ${s} left`);
        }
      }
      expect(index.isEmpty()).to.equal(true);
    });
  }

  it('a user message reaches every matching subscription of the user, by session when asked', function () {
    const subs = new LocalSubscriptions({ firstSubscriber() {}, lastSubscriberGone() {} });
    const s1 = session('s1', 'alice'),
      s2 = session('s2', 'alice');
    const chat1 = sub('c1', s1, '/user/queue/chat');
    const chat2 = sub('c2', s2, '/user/queue/chat');
    const other = sub('o1', s1, '/user/queue/other');
    const pattern = sub('p1', s2, '/user/queue/{name}');
    subs.addSession(s1);
    expect(subs.sessionCount('alice')).to.equal(1);
    subs.addSession(s2);
    expect(subs.sessionCount('alice')).to.equal(2);
    expect([...subs.sessionsOf('alice')]).to.deep.equal([s1, s2]);
    const ids = (dest: string, only?: string) => subs.userTargets('alice', dest, only).map((s) => s.id);

    add(subs, chat1);
    expect(ids('/queue/chat')).to.deep.equal(['c1']);
    for (const s of [chat2, other, pattern]) add(subs, s);
    expect(ids('/queue/chat')).to.deep.equal(['c1', 'c2', 'p1']);
    expect(ids('/queue/other')).to.deep.equal(['o1', 'p1']);
    expect(ids('/queue/chat', 's2')).to.deep.equal(['c2', 'p1']);
    expect(ids('/queue/x/y'), 'a pattern segment matches one segment').to.deep.equal([]);
    expect(subs.userTargets('bob', '/queue/chat')).to.deep.equal([]);

    remove(subs, pattern);
    remove(subs, chat1);
    remove(subs, chat1);
    expect(ids('/queue/chat')).to.deep.equal(['c2']);
    expect(ids('/queue/other')).to.deep.equal(['o1']);
    remove(subs, chat2);
    remove(subs, other);
    expect(ids('/queue/chat')).to.deep.equal([]);
    expect(ids('/queue/other')).to.deep.equal([]);
    subs.removeSession(s1);
    subs.removeSession(s2);
    expect(subs.sessionCount('alice')).to.equal(0);
    expect([...subs.users()]).to.deep.equal([]);
  });
});

/** A session double that keeps its subscriptions where the node looks for a user's. */
type TestSession = SessionHandle & { subscriptions: Subscription[] };

function session(id: string, user: string): TestSession {
  return { id, user, deliver: () => true, replayStored() {}, subscriptions: [] };
}

/** As a session subscribes: into its own list, then into the node's index. */
function add(subs: LocalSubscriptions, sub: Subscription): void {
  const s = sub.session as TestSession;
  s.subscriptions = [...s.subscriptions, sub];
  subs.add(sub);
}

function remove(subs: LocalSubscriptions, sub: Subscription): void {
  const s = sub.session as TestSession;
  s.subscriptions = s.subscriptions.filter((x) => x !== sub);
  subs.remove(sub);
}

function sub(id: string, s: SessionHandle, destination: string): Subscription {
  return {
    id,
    serial: subscriptionSerial(),
    session: s,
    destination,
    kind: 'user',
    ackMode: 'auto',
    matches: LocalSubscriptions.matcherFor(destination),
    stream: undefined,
  };
}
