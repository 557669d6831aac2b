import { expect } from 'chai';
import { generateKeyPair, exportSPKI, exportJWK, SignJWT } from 'jose';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient } from '../helpers/stomp-client.js';
import { openRaw } from '../helpers/raw-socket.js';
import { header } from '../../protocol/index.js';

const SECRET = 'test-secret-with-enough-entropy-0123456789';

function hs256(claims: Record<string, unknown>, expiresIn: string | number = '1h', secret = SECRET): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

async function refused(url: string, connectHeaders: Record<string, string>): Promise<string> {
  const err = await connectClient(url, { connectHeaders }).then(
    () => 'connected',
    (e: Error) => e.message,
  );
  return err;
}

describe('JWT authentication (AUTH_MODE=jwt)', () => {
  let n: StartedNode;
  before(async () => {
    n = await startNode({ AUTH_MODE: 'jwt', JWT_SECRET: SECRET, JWT_AUDIENCE: 'stomp-relay' });
  });
  after(async () => {
    await n.stop();
  });

  it('accepts a valid token in the Authorization header; sub is the user', async () => {
    const token = await hs256({ sub: 'alice', aud: 'stomp-relay' });
    const c = await connectClient(n.url, { connectHeaders: { Authorization: `Bearer ${token}` } });
    expect(c.connected.headers['user-name']).to.equal('alice');
    await c.disconnect();
  });

  it('accepts the token as passcode and as the access_token query parameter', async () => {
    const token = await hs256({ sub: 'bob', aud: 'stomp-relay' });
    const c = await connectClient(n.url, { connectHeaders: { login: 'ignored', passcode: token } });
    expect(c.connected.headers['user-name']).to.equal('bob');
    await c.disconnect();
    const q = await connectClient(`${n.url}?access_token=${token}`);
    expect(q.connected.headers['user-name']).to.equal('bob');
    await q.disconnect();
  });

  it('refuses a missing, expired, wrongly signed or wrong-audience token with ERROR and close 1008', async () => {
    expect(await refused(n.url, { login: 'mallory' })).to.contain('no token');
    expect(
      await refused(n.url, {
        Authorization: `Bearer ${await hs256({ sub: 'x', aud: 'stomp-relay' }, Math.floor(Date.now() / 1000) - 60)}`,
      }),
    ).to.contain('expired');
    expect(
      await refused(n.url, {
        Authorization: `Bearer ${await hs256({ sub: 'x', aud: 'stomp-relay' }, '1h', 'another-secret-0123456789abcdef')}`,
      }),
    ).to.contain('bad signature');
    expect(
      await refused(n.url, { Authorization: `Bearer ${await hs256({ sub: 'x', aud: 'someone-else' })}` }),
    ).to.contain('aud');
    expect(await refused(n.url, { Authorization: 'Bearer not.a.jwt' })).to.contain('invalid token');

    const s = await openRaw(n.url);
    s.send('CONNECT\naccept-version:1.2\nlogin:mallory\n\n\0');
    expect(header(await s.next('ERROR'), 'message')).to.contain('no token');
    expect((await s.closed).code).to.equal(1008);
  });

  it('accepts nothing before a valid CONNECT', async () => {
    const s = await openRaw(n.url);
    s.send('SEND\ndestination:/topic/x\n\nhi\0');
    expect(header(await s.next('ERROR'), 'message')).to.contain('CONNECT first');
    await s.closed;
  });

  it('ends the session with an ERROR when the token expires mid-session', async () => {
    const token = await hs256({ sub: 'carol', aud: 'stomp-relay' }, Math.floor(Date.now() / 1000) + 2);
    const c = await connectClient(n.url, { connectHeaders: { Authorization: `Bearer ${token}` } });
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (c.errors.length > 0) {
          clearInterval(t);
          resolve();
        }
        if (Date.now() - started > 5000) {
          clearInterval(t);
          reject(new Error('no ERROR at expiry'));
        }
      }, 20);
    });
    expect(c.errors[0]!.headers.message).to.equal('token expired');
    await c.disconnect();
  });
});

describe('JWT with public keys (RS256 PEM, ES256 JWKS file)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'jwt-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('verifies RS256 against a PEM given inline', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const n = await startNode({
      AUTH_MODE: 'jwt',
      JWT_PUBLIC_KEY: await exportSPKI(publicKey),
      JWT_ISSUER: 'https://idp.example',
    });
    const token = await new SignJWT({ sub: 'rsa-user' })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer('https://idp.example')
      .setExpirationTime('1h')
      .sign(privateKey);
    const c = await connectClient(n.url, { connectHeaders: { Authorization: `Bearer ${token}` } });
    expect(c.connected.headers['user-name']).to.equal('rsa-user');
    await c.disconnect();
    const wrongIssuer = await new SignJWT({ sub: 'rsa-user' })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer('https://evil.example')
      .setExpirationTime('1h')
      .sign(privateKey);
    expect(await refused(n.url, { Authorization: `Bearer ${wrongIssuer}` })).to.contain('iss');
    // an HS256 token "signed" with the public key text must not pass (algorithm confusion)
    const confused = await hs256({ sub: 'rsa-user' }, '1h', await exportSPKI(publicKey));
    expect(await refused(n.url, { Authorization: `Bearer ${confused}` })).to.contain('invalid token');
    await n.stop();
  });

  it('verifies ES256 against a JWKS file', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const file = path.join(dir, 'jwks.json');
    await writeFile(file, JSON.stringify({ keys: [jwk] }));
    const n = await startNode({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY: file });
    const token = await new SignJWT({ sub: 'ec-user' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setExpirationTime('1h')
      .sign(privateKey);
    const c = await connectClient(n.url, { connectHeaders: { Authorization: `Bearer ${token}` } });
    expect(c.connected.headers['user-name']).to.equal('ec-user');
    await c.disconnect();
    await n.stop();
  });
});
