import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { StompYjsProvider } from '../client/yjs-provider.js';
import { startCluster } from './helpers/cluster.js';

const env = JSON.parse(process.argv[2] ?? '{}');
const cluster = await startCluster(2, env);
function ed(url: string, login: string) {
  const doc = new Y.Doc();
  const client = new Client({ webSocketFactory: () => new WebSocket(url, ['v12.stomp']) as any, connectHeaders: { login }, reconnectDelay: 0, heartbeatIncoming: 0, heartbeatOutgoing: 0, debug: () => {} });
  const p = new StompYjsProvider(client, 'd1', doc);
  const synced = new Promise<void>((r) => p.on('synced', (s) => s && r()));
  client.activate();
  return { c: client, doc, list: doc.getArray<{ t: number }>('s'), synced, close: async () => { p.destroy(); await client.deactivate(); } };
}
const a = ed(cluster.nodes[0]!.url, 'a');
const b = ed(cluster.nodes[1]!.url, 'b');
await Promise.all([a.synced, b.synced]);
const lat: number[] = [];
b.list.observe((e, tr) => { if (tr.local) return; const now = performance.now(); for (const it of e.changes.added) for (const c of it.content.getContent() as { t: number }[]) lat.push(now - c.t); });
for (let i = 0; i < 300; i++) { a.list.push([{ t: performance.now() }]); await new Promise((r) => setTimeout(r, 10)); }
await new Promise((r) => setTimeout(r, 500));
lat.sort((x, y) => x - y);
console.log(JSON.stringify(env), 'n', lat.length, 'p50', lat[Math.floor(lat.length / 2)]!.toFixed(2), 'p99', lat[Math.floor(lat.length * 0.99)]!.toFixed(2));
const lat2: number[] = [];
await new Promise<void>((r) => { (b as any).c.subscribe('/topic/x', (m: any) => { lat2.push(performance.now() - Number(m.body)); }, { receipt: 'rr' }); (b as any).c.watchForReceipt('rr', () => r()); });
for (let i = 0; i < 300; i++) { (a as any).c.publish({ destination: '/topic/x', body: String(performance.now()) }); await new Promise((r) => setTimeout(r, 10)); }
await new Promise((r) => setTimeout(r, 500));
lat2.sort((x, y) => x - y);
console.log('plain topic cross-node n', lat2.length, 'p50', lat2[Math.floor(lat2.length / 2)]!.toFixed(2), 'p99', lat2[Math.floor(lat2.length * 0.99)]!.toFixed(2));
const lat3: number[] = [];
await new Promise<void>((r) => { (b as any).c.subscribe('/user/queue/x', (m: any) => { lat3.push(performance.now() - Number(m.body)); }, { receipt: 'rr2' }); (b as any).c.watchForReceipt('rr2', () => r()); });
for (let i = 0; i < 300; i++) { (a as any).c.publish({ destination: '/user/b/queue/x', body: String(performance.now()) }); await new Promise((r) => setTimeout(r, 10)); }
await new Promise((r) => setTimeout(r, 500));
lat3.sort((x, y) => x - y);
console.log('user cross-node n', lat3.length, 'p50', lat3[Math.floor(lat3.length / 2)]!.toFixed(2), 'p99', lat3[Math.floor(lat3.length * 0.99)]!.toFixed(2));
await a.close(); await b.close(); await cluster.stop();
