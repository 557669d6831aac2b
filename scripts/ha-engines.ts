// `npm run cluster -- --ha` starts this first: a RabbitMQ cluster of three members and Redis with
// Sentinel, of their own (ports, names and data directories; the machine's Redis and RabbitMQ are
// never touched). It writes the nodes' environment to the file given as its argument, prints what
// runs where, and stops everything on SIGTERM / SIGINT.
import { writeFileSync } from 'node:fs';
import { startRabbitCluster, startRedisSentinel } from '../test/helpers/ha-engines.js';

const envFile = process.argv[2];
if (!envFile) {
  console.error('usage: tsx scripts/ha-engines.ts <env file to write>');
  process.exit(2);
}
const label = `cluster-${process.pid}`;
console.log('ha: starting a 3-member RabbitMQ cluster and Redis with Sentinel (primary, replica, 3 sentinels); ~30 s');
const [rabbit, redis] = await Promise.all([startRabbitCluster(label), startRedisSentinel(label)]);
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await Promise.all([rabbit.stop(), redis.stop()]);
  console.log('ha: RabbitMQ cluster and Redis Sentinel stopped');
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
writeFileSync(
  envFile,
  `AMQP_URL=${rabbit.amqpUrl}\nREDIS_SENTINELS=${redis.sentinels}\nREDIS_SENTINEL_NAME=${redis.name}\n`,
);
console.log(`ha: RabbitMQ members ${rabbit.members.map((m) => `${m.name} (127.0.0.1:${m.port})`).join(', ')}`);
console.log(
  `ha: Redis primary 127.0.0.1:${await redis.primaryPort()}, sentinels ${redis.sentinels} (name ${redis.name})`,
);
// Stay up until told to stop.
setInterval(() => undefined, 1 << 30);
