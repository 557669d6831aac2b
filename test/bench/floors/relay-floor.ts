/**
 * Floor of the cross-node path: one "node" of a two-process relay with no STOMP and a cached
 * registry — WebSocket (or HTTP) in → amqplib → WebSocket out. It uses RabbitMQ exactly as the
 * product's RabbitBroker does (a durable direct exchange, a durable queue per node with its node
 * id as binding key, persistent mandatory publishes on a confirm channel, manual ack after the
 * socket write, prefetch 256; TCP_NODELAY on), so the difference to the product is everything else.
 *
 *   WS  /ws?user=U&to=V   U's socket; every message from it goes to V
 *   POST /routes          {"V":"nodeId",…}: the cached "registry"
 *   POST /push/V          {"body":"…"}: to V, 202 once RabbitMQ confirmed (as the product's API)
 *   GET /stats
 * env: NODE_ID, AMQP_URL, AMQP_PREFIX (names `{p}relay`, `{p}node.{NODE_ID}`), PORT, HOST.
 *
 * QUEUE_TYPE=quorum declares the node queue as a quorum queue (the product's default node queues).
 *
 * DURABILITY=transient makes it the at-most-once stack a user writes by the RabbitMQ tutorials
 * instead: a plain channel, non-persistent publishes, no confirms, no mandatory flag, a non-durable
 * exclusive queue consumed with automatic ack (the broker forgets a message once it pushed it).
 * /push answers 202 once the publish is written to the socket.
 */
import http from 'node:http';
import amqp, { type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { WebSocketServer, type WebSocket } from 'ws';

const NODE_ID = process.env.NODE_ID ?? 'floor';
const PREFIX = process.env.AMQP_PREFIX ?? 'bench-floor.';
const EXCHANGE = `${PREFIX}relay`;
const QUEUE = `${PREFIX}node.${NODE_ID}`;

const url = new URL(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', '10');
// Nagle off: amqplib writes a message over 2 KiB as two chunks, and with Nagle the second waits
// for the broker's delayed ACK (~40 ms) whenever the link is otherwise idle.
const conn = await amqp.connect(url.toString(), { noDelay: true });
const TRANSIENT = process.env.DURABILITY === 'transient';
const pub = TRANSIENT ? await conn.createChannel() : await conn.createConfirmChannel();
const sub = await conn.createChannel();
await pub.assertExchange(EXCHANGE, 'direct', { durable: !TRANSIENT, autoDelete: false });
await sub.assertQueue(
  QUEUE,
  TRANSIENT
    ? { durable: false, exclusive: true }
    : {
        durable: true,
        exclusive: false,
        autoDelete: false,
        arguments: {
          'x-expires': 3_600_000,
          ...(process.env.QUEUE_TYPE === 'quorum' ? { 'x-queue-type': 'quorum' } : {}),
        },
      },
);
await sub.bindQueue(QUEUE, EXCHANGE, NODE_ID);
await sub.prefetch(256);

const users = new Map<string, WebSocket>();
const routes = new Map<string, string>();

function deliver(to: string, data: Buffer, done: () => void): void {
  const ws = users.get(to);
  if (!ws) {
    done();
    return;
  }
  ws.send(data, { binary: false }, done);
}

await sub.consume(
  QUEUE,
  (m: ConsumeMessage | null) => {
    if (!m) return;
    const to: unknown = m.properties.headers?.to;
    deliver(typeof to === 'string' ? to : '', m.content, TRANSIENT ? () => undefined : () => sub.ack(m));
  },
  { noAck: TRANSIENT },
);

/** Local short-circuit as the product does; otherwise one confirmed publish to the node. */
function route(to: string, data: Buffer, confirmed?: (err: unknown) => void): void {
  const node = routes.get(to);
  if (node === undefined) {
    confirmed?.(new Error(`no route for ${to}`));
    return;
  }
  if (node === NODE_ID) {
    deliver(to, data, () => confirmed?.(undefined));
    return;
  }
  if (TRANSIENT) {
    pub.publish(EXCHANGE, node, data, { persistent: false, headers: { to } });
    confirmed?.(undefined);
    return;
  }
  (pub as ConfirmChannel).publish(
    EXCHANGE,
    node,
    data,
    { persistent: true, mandatory: true, headers: { to } },
    (err: unknown) => confirmed?.(err ?? undefined),
  );
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 65536 * 4 + 4096 });
const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (req.method === 'GET' && path === '/stats') {
    const m = process.memoryUsage();
    res.end(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, connections: wss.clients.size }));
    return;
  }
  if (req.method === 'POST' && (path === '/routes' || path.startsWith('/push/'))) {
    readBody(req).then(
      (raw) => {
        const json = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
        if (path === '/routes') {
          for (const [user, node] of Object.entries(json)) routes.set(user, String(node));
          res.end('{}');
          return;
        }
        const body = json.body;
        const data = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
        route(decodeURIComponent(path.slice('/push/'.length)), data, (err) => {
          res.statusCode = err ? 503 : 202;
          res.setHeader('content-type', 'application/json');
          res.end(err ? '{"error":"not accepted"}' : '{"status":"routed"}');
        });
      },
      () => {
        res.statusCode = 400;
        res.end();
      },
    );
    return;
  }
  res.statusCode = 404;
  res.end();
});

server.on('upgrade', (req, socket, head: Buffer) => {
  const u = new URL(req.url ?? '/', 'http://localhost');
  if (u.pathname !== '/ws') {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const user = u.searchParams.get('user') ?? '';
    const to = u.searchParams.get('to');
    users.set(user, ws);
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (users.get(user) === ws) users.delete(user);
    });
    if (to !== null) ws.on('message', (data: Buffer) => route(to, data));
  });
});

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`${JSON.stringify({ msg: 'floor listening', port })}\n${JSON.stringify({ msg: 'ready' })}\n`);
});

const stop = () => {
  for (const c of wss.clients) c.terminate();
  server.close();
  void conn
    .close()
    .catch(() => undefined)
    .finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
