/**
 * Peer: y-websocket's own server (`@y/websocket-server`, what a y-websocket user runs): one process
 * holding every document in memory, relaying updates and awareness to the document's connections.
 * Prints `{"msg":"floor listening","port"}` and `{"msg":"ready"}` like a product node.
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { setupWSConnection } from '@y/websocket-server/utils';

const PORT = Number(process.env.PORT ?? 0);
const HOST = process.env.HOST ?? '127.0.0.1';

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
wss.on('connection', setupWSConnection);
const server = http.createServer((_req, res) => {
  res.statusCode = 404;
  res.end();
});
server.on('upgrade', (req, socket, head: Buffer) => {
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.listen(PORT, HOST, () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : PORT;
  process.stdout.write(`${JSON.stringify({ msg: 'floor listening', port })}\n${JSON.stringify({ msg: 'ready' })}\n`);
});

const stop = () => {
  for (const c of wss.clients) c.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
