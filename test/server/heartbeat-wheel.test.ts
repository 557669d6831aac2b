import { expect } from 'chai';
import { HeartbeatWheel } from '../../server/transport/heartbeat-wheel.js';
import { waitFor } from '../helpers/wait.js';

describe('HeartbeatWheel (one timer per heart-beat period, node-wide)', () => {
  it('ticks every member of a period, each period on its own timer, and forgets members that left', async () => {
    const ticks: string[] = [];
    const wheel = new HeartbeatWheel<string>((m) => ticks.push(m));
    wheel.add(20, 'a');
    wheel.add(20, 'b');
    wheel.add(45, 'c');
    expect(wheel.size).to.equal(3);
    await waitFor(() => ticks.includes('c'), 'the 45 ms member to tick', 2000);
    expect(ticks.filter((m) => m === 'a').length).to.be.at.least(1);
    expect(ticks.filter((m) => m === 'a').length).to.equal(ticks.filter((m) => m === 'b').length);

    wheel.remove(20, 'a');
    wheel.remove(20, 'b');
    wheel.remove(45, 'c');
    expect(wheel.size).to.equal(0);
    const seen = ticks.length;
    await new Promise((r) => setTimeout(r, 120));
    expect(ticks.length, 'no tick after every member left').to.equal(seen);
  });

  it('lets a member leave during a tick (a session that fails its heart-beat check)', async () => {
    const wheel: HeartbeatWheel<string> = new HeartbeatWheel<string>((m) => {
      ticked.push(m);
      wheel.remove(10, m);
    });
    const ticked: string[] = [];
    for (const m of ['x', 'y', 'z']) wheel.add(10, m);
    await waitFor(() => ticked.length === 3, 'every member to tick once', 2000);
    await new Promise((r) => setTimeout(r, 50));
    expect(ticked.sort()).to.deep.equal(['x', 'y', 'z']);
    expect(wheel.size).to.equal(0);
  });

  it('spreads the members of a period over ten ticks, not one burst', async () => {
    const at: number[] = [];
    const ticked = new Set<number>();
    const wheel = new HeartbeatWheel<number>((m) => {
      at.push(performance.now());
      ticked.add(m);
    });
    for (let m = 0; m < 20; m++) wheel.add(300, m);
    await waitFor(() => ticked.size === 20, 'every member to tick', 2000);
    for (let m = 0; m < 20; m++) wheel.remove(300, m);
    // Ticks of one timer callback are microseconds apart; the slices are 30 ms apart.
    const bursts: number[] = [1];
    for (let i = 1; i < at.length; i++) {
      if (at[i]! - at[i - 1]! < 5) bursts[bursts.length - 1]!++;
      else bursts.push(1);
    }
    expect(Math.max(...bursts), `members ticked together: ${bursts.join(', ')}`).to.be.at.most(10);
  });
});
