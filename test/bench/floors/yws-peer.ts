/**
 * Peer: y-websocket's own server (`@y/websocket-server`, what a y-websocket user runs): one process
 * holding every document in memory, relaying updates and awareness to the document's connections.
 * Prints `{"msg":"floor listening","port"}` and `{"msg":"ready"}` like a product node.
 */
import http from 'node:http';
import { serveFloor } from './serve.js';
import { WebSocketServer } from 'ws';
import { setupWSConnection } from '@y/websocket-server/utils';

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
wss.on('connection', setupWSConnection);
const server = http.createServer((_req, res) => {
  res.statusCode = 404;
  res.end();
});
server.on('upgrade', (req, socket, head: Buffer) => {
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
serveFloor(server, wss);
