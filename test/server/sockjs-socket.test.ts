import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import { SockJsSocket, type SockJsConnection } from '../../server/transport/sockjs-socket.js';

/** A sockjs connection that records how it was closed; `data` is what a client sent. */
class FakeConnection extends EventEmitter implements SockJsConnection {
  readyState = 1;
  closed: [string | undefined, string | undefined] | undefined;
  write(): boolean {
    return true;
  }
  close(code?: string, reason?: string): boolean {
    this.closed = [code, reason];
    this.readyState = 3;
    return true;
  }
  destroy(): void {}
}

function listening(socket: SockJsSocket): string[] {
  const got: string[] = [];
  socket.listen({ socketData: (chunk) => got.push(chunk.toString()), socketClosed: () => got.push('closed') });
  return got;
}

describe('SockJsSocket (a SockJS connection as a session socket)', () => {
  it('holds what comes while paused and hands it over in order when resumed', function () {
    const conn = new FakeConnection();
    const socket = new SockJsSocket(conn, 100);
    const got = listening(socket);
    conn.emit('data', 'a');
    socket.pause();
    conn.emit('data', 'b');
    conn.emit('data', 'c');
    expect(got).to.deep.equal(['a']);
    socket.resume();
    conn.emit('data', 'd');
    expect(got).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(conn.closed).to.equal(undefined);
  });

  it('closes a connection that sends more than it may while paused (1008), and drops what it held', function () {
    const conn = new FakeConnection();
    const socket = new SockJsSocket(conn, 10);
    const got = listening(socket);
    socket.pause();
    conn.emit('data', '12345');
    conn.emit('data', '67890');
    expect(conn.closed).to.equal(undefined);
    conn.emit('data', 'x');
    expect(conn.closed?.[0]).to.equal('1008');
    expect(conn.closed?.[1]).to.match(/over 10 bytes sent while the session was paused/);
    conn.emit('data', 'y');
    socket.resume();
    expect(got, 'nothing of it reaches the session').to.deep.equal([]);
  });

  it('counts afresh after a resume', function () {
    const conn = new FakeConnection();
    const socket = new SockJsSocket(conn, 10);
    const got = listening(socket);
    socket.pause();
    conn.emit('data', '1234567890');
    socket.resume();
    socket.pause();
    conn.emit('data', 'abcdefghij');
    socket.resume();
    expect(got).to.deep.equal(['1234567890', 'abcdefghij']);
    expect(conn.closed).to.equal(undefined);
  });
});
