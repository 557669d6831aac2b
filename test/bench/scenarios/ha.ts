/**
 * `--scenario ha` (`--ha`): S2 user → user on the high-availability layout — a RabbitMQ cluster of
 * three members (quorum node queues) and Redis with Sentinel, started for the run on their own
 * ports and directories — beside the same hop on the machine's one RabbitMQ with classic and with
 * quorum node queues, and the persistent floor, interleaved run by run. Prints what the layout
 * costs against one broker (the target: ≥ 0.7 of it) and what quorum queues cost.
 */
import { canRunRabbitCluster, startRabbitCluster, startRedisSentinel } from '../../helpers/ha-engines.js';
import { withCleanup, type BenchContext } from '../context.js';
import type { MsgFigure } from '../report.js';
import { measureEntries, userHop, type Entry } from './cross.js';
import { startRelayFloor } from './cross-peers.js';

export async function ha(ctx: BenchContext): Promise<void> {
  if (!canRunRabbitCluster())
    throw new Error('the HA layout needs the rabbitmq-server package scripts and redis-server');
  await withCleanup(async (defer) => {
    ctx.progress('  starting a 3-member RabbitMQ cluster and Redis with Sentinel (~30 s)');
    const label = `bench-${ctx.runId}`;
    const [rabbit, redis] = await Promise.all([startRabbitCluster(label), startRedisSentinel(label)]);
    defer(() => Promise.all([rabbit.stop(), redis.stop()]));
    const floor = await startRelayFloor(ctx, defer, 'haf', 'persistent');
    const entries: Entry[] = [{ id: 'floor.relay', label: 'ws→amqplib→ws, 2 procs', ...floor }];
    const hop = async (id: string, what: string, env: Record<string, string>): Promise<void> => {
      entries.push({ id, label: what, floor: 'floor.relay', ...(await userHop(ctx, (f) => defer(f), id, env)) });
    };
    await hop('ha.one.classic', 'S2 user→user, one RabbitMQ, classic queues', { RELAY_QUEUE_TYPE: 'classic' });
    await hop('ha.one.quorum', 'S2 user→user, one RabbitMQ, quorum queues', { RELAY_QUEUE_TYPE: 'quorum' });
    await hop('ha.layout', 'S2 user→user, RabbitMQ cluster of 3 (quorum) + Redis Sentinel', {
      AMQP_URL: rabbit.amqpUrl,
      RELAY_QUEUE_TYPE: 'quorum',
      REDIS_URL: '',
      REDIS_SENTINELS: redis.sentinels,
      REDIS_SENTINEL_NAME: redis.name,
    });
    await measureEntries(ctx, entries);

    const median = (id: string, size: number): number => {
      const f = ctx.figures.find((x): x is MsgFigure => x.kind === 'msg' && x.id === id && x.size === size);
      const rates = (f?.max ?? []).map((m) => m.rate).sort((a, b) => a - b);
      return rates[Math.floor(rates.length / 2)] ?? NaN;
    };
    for (const size of ctx.args.sizes) {
      const [classic, quorum, layout] = ['ha.one.classic', 'ha.one.quorum', 'ha.layout'].map((id) => median(id, size));
      const line =
        `HA layout, ${size} B: max ${Math.round(layout!)} msg/s = ×${(layout! / classic!).toFixed(2)} of one RabbitMQ with ` +
        `classic queues (target ≥ 0.7), ×${(layout! / quorum!).toFixed(2)} of one with quorum queues; quorum queues on one ` +
        `RabbitMQ: ×${(quorum! / classic!).toFixed(2)} of classic`;
      ctx.notes.push(line);
      ctx.progress(`  ${line}`);
    }
  });
}
