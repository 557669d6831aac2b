import { expect } from 'chai';
import { header } from '../../protocol/index.js';
import { MemoryBroker } from '../../server/broker/memory-broker.js';
import type { Destination, NodeId } from '../../server/ids.js';
import { connectRaw } from '../helpers/raw-socket.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';

/** A broker that refuses to bind one destination, as RabbitMQ refusing or a broker closing would. */
class RefusingBroker extends MemoryBroker {
  constructor(
    nodeId: NodeId,
    private readonly refused: string,
  ) {
    super(nodeId);
  }
  override async bind(destination: Destination): Promise<void> {
    if (destination === this.refused) throw new Error('bind refused');
    return super.bind(destination);
  }
}

describe('SUBSCRIBE whose broker binding fails', () => {
  let started: StartedNode;

  before(async () => {
    started = await startNode({ NODE_ID: 'bind-test' }, { broker: new RefusingBroker('bind-test', '/topic/broken') });
  });
  after(() => started.stop());

  it('answers with an ERROR carrying the receipt-id instead of a RECEIPT, undoes the subscription and leaves other sessions working', async () => {
    const failing = await connectRaw(started.url, 'alice');
    failing.send('SUBSCRIBE\nid:0\ndestination:/topic/broken\nreceipt:r-1\n\n\0');
    const error = await failing.next('ERROR');
    expect(header(error, 'receipt-id')).to.equal('r-1');
    expect(header(error, 'message')).to.contain('could not bind /topic/broken');
    expect((await failing.closed).code).to.equal(1011);
    expect(failing.frames.map((f) => f.command)).to.not.include('RECEIPT');

    // The undone subscription leaves no count behind, and the node goes on serving others.
    const other = await connectRaw(started.url, 'bob');
    other.send('SUBSCRIBE\nid:0\ndestination:/topic/fine\nreceipt:r-2\n\n\0');
    expect(header(await other.next('RECEIPT'), 'receipt-id')).to.equal('r-2');
    await started.node.template.convertAndSend('/topic/fine', 'still here');
    expect((await other.next('MESSAGE')).body.toString()).to.equal('still here');
    const metrics = await (await fetch(`${started.http}/metrics`)).text();
    expect(metrics).to.match(/^stomp_subscriptions 1$/m);
    other.close();
  });
});
