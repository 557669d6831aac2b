import type http from 'node:http';
import type { WebSocketServer } from 'ws';

/**
 * Listens on PORT/HOST (0 / 127.0.0.1 by default), prints `{"msg":"floor listening","port"}` and
 * `{"msg":"ready"}` as a product node does, and stops at SIGTERM or SIGINT: every WebSocket cut,
 * the server closed, the process gone within a second.
 */
export function serveFloor(server: http.Server, ...servers: WebSocketServer[]): void {
  const port = Number(process.env.PORT ?? 0);
  server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
    const addr = server.address();
    const bound = typeof addr === 'object' && addr ? addr.port : port;
    process.stdout.write(
      `${JSON.stringify({ msg: 'floor listening', port: bound })}\n${JSON.stringify({ msg: 'ready' })}\n`,
    );
  });
  const stop = () => {
    for (const wss of servers) for (const c of wss.clients) c.terminate();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
