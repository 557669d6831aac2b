/**
 * Floor: a bare `ws` server, configured as the product's endpoint (noServer on an http server,
 * no permessage-deflate), doing nothing but the minimum of each job:
 *   /echo  echoes every message back (the floor of scenario 1)
 *   /sink  receives what a /ctl connection asks to push (the floor of fan-out: server → client)
 *   /idle  holds the connection (the floor of the idle-connection cost); with `?beat=<ms>` it
 *          sends a heart-beat (one "\n") on each connection every <ms>, as a STOMP server does,
 *          from one timer for all of them
 *   /stomp the floor of a STOMP session's start (the reconnect storm's floor): CONNECTED to a
 *          CONNECT, a RECEIPT to a frame that asks for one, heart-beats as on /idle?beat=10000;
 *          nothing kept, routed or registered
 *   /ctl   `{"op":"push","count":n,"payload":"…"}`: sends the payload to every sink `count`
 *          times (with `count` > 1 each copy is re-stamped `<i> 0 ` so it can be counted), then
 *          answers `{"op":"pushed"}`.
 *   GET /stats  {"rss","heapUsed","connections","loopP99Ms","loopMaxMs"}: the event-loop delay
 *          since the last /stats, measured as prom-client measures a product node's
 * Prints `{"msg":"floor listening","port"}` and `{"msg":"ready"}` like a product node.
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { serveFloor } from './serve.js';
import { WebSocketServer, type WebSocket } from 'ws';

/** Pause pushing while a sink holds more than this unsent. */
const HIGH_WATER = 1 << 20;

const sinks = new Set<WebSocket>();
let beatTimer: NodeJS.Timeout | undefined;

/**
 * A tenth of the heart-beating connections beat each tenth of `ms`: every one every `ms`, one
 * timer in all. They are the clients of a server of their own, which `ws` keeps in a set and takes
 * a closed one out of, at no cost beyond what its client tracking already pays.
 */
function beatEvery(ms: number): void {
  if (beatTimer || !(ms > 0)) return;
  let tick = 0;
  beatTimer = setInterval(() => {
    const slot = tick++ % 10;
    let k = 0;
    for (const ws of beatingWss.clients) if (k++ % 10 === slot && ws.readyState === 1) ws.send('\n');
  }, ms / 10);
}
// As prom-client's nodejs_eventloop_lag_* gauges on a product node.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const CONNECTED = 'CONNECTED\nversion:1.2\nheart-beat:10000,10000\n\n\0';
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 65536 * 4 + 4096 });
const beatingWss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 65536 * 4 + 4096 });

const server = http.createServer((req, res) => {
  if (req.url === '/stats') {
    const m = process.memoryUsage();
    const loop = { loopP99Ms: loopDelay.percentile(99) / 1e6, loopMaxMs: loopDelay.max / 1e6 };
    loopDelay.reset();
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        rss: m.rss,
        heapUsed: m.heapUsed,
        connections: wss.clients.size + beatingWss.clients.size,
        ...loop,
      }),
    );
    return;
  }
  res.statusCode = 404;
  res.end();
});

server.on('upgrade', (req, socket, head: Buffer) => {
  const [path, query] = (req.url ?? '/').split('?');
  if (!['/echo', '/sink', '/idle', '/stomp', '/ctl'].includes(path ?? '')) {
    socket.destroy();
    return;
  }
  const beat = path === '/stomp' ? 10_000 : path === '/idle' ? Number(new URLSearchParams(query).get('beat')) : 0;
  (beat > 0 ? beatingWss : wss).handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => undefined);
    beatEvery(beat);
    if (path === '/echo') {
      ws.on('message', (data: Buffer, isBinary) => ws.send(data, { binary: isBinary }));
    } else if (path === '/idle') {
      if (beat > 0) ws.on('message', () => undefined); // heart-beats in: received and dropped, as the product does
    } else if (path === '/stomp') {
      ws.on('message', (data: Buffer) => {
        const frame = data.toString('latin1');
        if (frame.startsWith('CONNECT')) ws.send(CONNECTED);
        else {
          const receipt = /\nreceipt:([^\n]*)\n/.exec(frame)?.[1];
          if (receipt !== undefined) ws.send(`RECEIPT\nreceipt-id:${receipt}\n\n\0`);
        }
      });
    } else if (path === '/sink') {
      sinks.add(ws);
      ws.on('close', () => sinks.delete(ws));
    } else if (path === '/ctl') {
      ws.on('message', (data: Buffer) => {
        const cmd = JSON.parse(data.toString('utf8')) as { op: string; count: number; payload: string };
        if (cmd.op === 'push') void push(cmd.count, cmd.payload).then(() => ws.send('{"op":"pushed"}'));
      });
    }
  });
});

async function push(count: number, payload: string): Promise<void> {
  const template = Buffer.from(payload, 'latin1');
  for (let i = 0; i < count; i++) {
    let data = template;
    if (count > 1) {
      data = Buffer.from(template);
      const head = `${i} 0 `;
      data.write(head, 0, 'latin1');
    }
    let most = 0;
    for (const s of sinks) {
      s.send(data, { binary: false });
      if (s.bufferedAmount > most) most = s.bufferedAmount;
    }
    // Never more in memory than a slow client's socket can take: wait for the kernel to drain.
    while (most > HIGH_WATER) {
      await new Promise((r) => setImmediate(r));
      most = 0;
      for (const s of sinks) if (s.bufferedAmount > most) most = s.bufferedAmount;
    }
  }
}

serveFloor(server, wss, beatingWss);
