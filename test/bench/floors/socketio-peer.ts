/**
 * Peer: one node of the stack users would pick instead of a STOMP relay — Socket.IO with
 * @socket.io/redis-adapter (at-most-once), written the idiomatic way: a socket joins a room named
 * after its user id, and `chat` (to, text) from a sender becomes `io.to(to).emit('chat', text)`;
 * the adapter carries it over Redis pub/sub to the node that holds the room.
 *
 *   Socket.IO at /socket.io/, handshake auth `{ user }`
 *   GET /stats
 * env: REDIS_URL, SIO_KEY (the adapter's channel prefix, one per run), PORT, HOST.
 * Prints `{"msg":"peer listening","port"}` and `{"msg":"ready"}` once the adapter subscribed.
 */
import http from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const KEY = process.env.SIO_KEY ?? 'bench-socket.io';
const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const server = http.createServer((req, res) => {
  if (req.url === '/stats') {
    const m = process.memoryUsage();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, connections: io.engine.clientsCount }));
    return;
  }
  res.statusCode = 404;
  res.end();
});

// Defaults otherwise (no permessage-deflate in Socket.IO 4); 1 MB is its default maxHttpBufferSize.
const io = new Server(server, { adapter: createAdapter(pub, sub, { key: KEY }), serveClient: false });

io.on('connection', (socket) => {
  const user = (socket.handshake.auth as { user?: unknown }).user;
  if (typeof user === 'string' && user !== '') void socket.join(user);
  socket.on('chat', (to: unknown, text: unknown) => {
    if (typeof to === 'string') io.to(to).emit('chat', text);
  });
});

// The adapter psubscribes to `{key}#/#*` when the namespace is made, without waiting. The same
// PSUBSCRIBE again on the same connection is answered after it (and changes nothing), so once it
// is, no message the other node publishes can be lost to a subscription still on its way.
await sub.psubscribe(`${KEY}#/#*`);

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`${JSON.stringify({ msg: 'peer listening', port })}\n${JSON.stringify({ msg: 'ready' })}\n`);
});

const stop = (): void => {
  void io.close();
  pub.disconnect();
  sub.disconnect();
  setTimeout(() => process.exit(0), 500).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
