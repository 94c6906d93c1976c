// The control plane's listen addresses go through the one host:port parser: `[::1]:0`, and also
// `::1:0`, what a manifest's `$(MESH_POD_IP):port` becomes in an IPv6 pod, where nothing can add
// brackets; a malformed address is refused before anything starts, naming the flag.
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostPortError, splitHostPort } from '../../api/host-port.ts';
import { startDestination } from '../../destination/server.ts';
import { testPki } from '../helpers/pki.ts';
import { runMesh } from '../cli/run-mesh.ts';
import { quietLogger, SERVER_IDENTITY } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'mesh-listen-address-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function tls() {
  const pki = await testPki();
  const material = (await pki.credentialsFor(SERVER_IDENTITY)).current();
  return { key: material.key as string, cert: material.cert as string, ca: pki.anchorPem };
}

const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host, port }, () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

describe('control plane listen addresses', () => {
  it('the destination binds an IPv6 address with or without brackets and reports it bracketed', async () => {
    const t = await tls();
    for (const addr of ['[::1]:0', '::1:0']) {
      const server = await startDestination({ resourcesDir: dir, addr, tls: t, logger: quietLogger() });
      try {
        expect(server.address).toMatch(/^\[::1\]:\d+$/);
        const { host, port } = splitHostPort(server.address, 'address');
        expect(await accepts(host, port)).toBe(true);
      } finally {
        await server.close();
      }
    }
  });

  it('the destination refuses a malformed address, naming it, before it starts', async () => {
    const err = await startDestination({ resourcesDir: dir, addr: '127.0.0.1', tls: await tls(), logger: quietLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostPortError);
    expect((err as HostPortError).message).toBe('destination --addr "127.0.0.1" is not host:port (no port), such as 127.0.0.1:8080 or [fd00::5]:8080');
  });

  it('mesh injector serve refuses a malformed --addr with the same words, as a usage error', async () => {
    const r = await runMesh(['injector', 'serve', '--cert', join(dir, 'none.crt'), '--key', join(dir, 'none.key'), '--addr', '[10.0.0.1]:8443']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('mesh injector serve: --addr "[10.0.0.1]:8443" is not host:port ("[10.0.0.1]" is not an IPv6 address in brackets)');
  });
});
