import { expect } from 'chai';
import { PresenceNotices, type PresenceNotice } from '../../server/messaging/presence-notices.js';
import { delay, waitFor } from '../helpers/wait.js';

describe('PresenceNotices', function () {
  const WINDOW_MS = 60;
  let notices: PresenceNotices | undefined;
  afterEach(() => notices?.close());

  function start(): { sent: [string, PresenceNotice][] } {
    const sent: [string, PresenceNotice][] = [];
    notices = new PresenceNotices('n1', (docId, notice) => sent.push([docId, notice]), WINDOW_MS);
    return { sent };
  }
  const brief = ([docId, n]: [string, PresenceNotice]) => `${docId} +${n.joined.join('+')} -${n.left.join('-')}`;

  it('announces a change to a quiet document at once, naming the node', function () {
    const { sent } = start();
    notices!.changed('42', 'alice', 'join');
    expect(sent.map(brief)).to.deep.equal(['42 +alice -']);
    expect(sent[0]![1]).to.include({ type: 'presence', docId: '42', node: 'n1' });
    expect(Date.parse(sent[0]![1].at)).to.be.closeTo(Date.now(), 5_000);
  });

  it('gathers the changes of the window after a notice into one, each user’s last change winning', async function () {
    const { sent } = start();
    notices!.changed('42', 'u0', 'join');
    // A storm: 300 sessions of one document join within the window; two of them leave again, one comes back.
    for (let i = 1; i <= 300; i++) notices!.changed('42', `u${i}`, 'join');
    notices!.changed('42', 'u7', 'leave');
    notices!.changed('42', 'u8', 'leave');
    notices!.changed('42', 'u8', 'join');
    notices!.changed('7', 'bob', 'join'); // another document: at once
    expect(sent.map(brief)).to.deep.equal(['42 +u0 -', '7 +bob -']);
    await waitFor(() => sent.length === 3, 'the gathered notice');
    const gathered = sent[2]![1];
    expect(gathered.joined).to.have.length(299);
    expect(gathered.joined).to.include('u8').and.not.include('u7');
    expect(gathered.left).to.deep.equal(['u7']);
    // Nothing more happened: no empty notice, and the documents are quiet again.
    await delay(3 * WINDOW_MS);
    expect(sent).to.have.length(3);
    notices!.changed('42', 'u7', 'join');
    expect(sent.map(brief).at(-1)).to.equal('42 +u7 -');
  });
});
