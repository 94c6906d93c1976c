// The tap server waits for the proxy's first certificate before it binds: closed while it waits
// (a proxy stopped before the CA answered), it never binds afterwards. Real credentials from a
// test CA, held back until after the close.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { TlsCredentials } from '../../../proxy/identity/credentials.ts';
import { TapHub } from '../../../proxy/tap/hub.ts';
import { TapServer } from '../../../proxy/tap/server.ts';
import { testPki } from '../../helpers/pki.ts';

describe('tap server lifecycle', () => {
  it('closed before its certificate came, it does not bind when the certificate comes', async () => {
    const pki = await testPki();
    const real = await pki.credentialsFor('production/orders');
    let issue!: () => void;
    const issued = new Promise<void>((resolve) => (issue = resolve));
    const late: TlsCredentials = {
      identity: real.identity,
      trustAnchorsPem: real.trustAnchorsPem,
      current: () => real.current(),
      isReady: () => false,
      whenReady: () => issued,
      onRotate: (listener) => real.onRotate(listener),
    };
    const server = new TapServer({ hub: new TapHub(), credentials: late, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
    const listening = server.listen();
    await server.close();
    issue();
    expect(await listening).toBe(0); // 0: not bound (a bound server resolves with its port)
  });

  it('given its certificate, it binds and close() lets it go', async () => {
    const pki = await testPki();
    const server = new TapServer({ hub: new TapHub(), credentials: await pki.credentialsFor('production/orders'), host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
    expect(await server.listen()).toBeGreaterThan(0);
    await server.close();
  });
});
