// Mode mtls: the two-proxy path with mTLS against the same path in cleartext (and the app
// directly), in the same run; the CA's issuance rate; and the cost of a full mTLS handshake.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { SETTINGS } from '../proxy/config.ts';
import { parsePrometheus } from '../api/prom-text.ts';
import { sumOf } from '../api/prom-samples.ts';
import { spiffeId } from '../api/spiffe.ts';
import { measurePaths } from './compare.ts';
import { meshAgainstDirect } from './http1.ts';
import { runIdentityBench } from './identity.ts';
import { handshakeCost, issuanceRate, issue, startCa, TRUST_DOMAIN, type RunningCa } from './identity-figures.ts';
import type { BenchContext, BenchMode } from './mode.ts';
import { barLines, table } from './report.ts';
import { checkSamePath, startTopology } from './two-proxy-topology.ts';

const CA_ADDR = '127.0.23.110:8080';

/** The proxy takes its identity from these (examples/orders-checkout/runner/mesh-commands.ts uses the same). */
function proxyTakesIdentity(): boolean {
  return SETTINGS.some((s) => s.env === 'MESH_IDENTITY_ADDR');
}

export const mtlsMode: BenchMode = {
  name: 'mtls',
  summary: 'two proxies with mTLS vs cleartext, CA issuance rate, full-handshake cost',
  async run(ctx) {
    ctx.log(`starting the CA (mesh identity init + serve) on ${CA_ADDR}...`);
    const ca = await startCa(ctx.logDir, CA_ADDR);
    ctx.onCleanup(() => ca.process.stop());

    ctx.log('CA issuance rate: concurrent Certify calls for 5 s...');
    const issuance = [];
    for (const concurrency of [1, 8]) issuance.push(await issuanceRate(ca, 5, concurrency));
    const server = await issue(ca, 'bench', 'server');
    const client = await issue(ca, 'bench', 'client');
    ctx.log('full mTLS handshakes (TLS 1.3, RSA 2048 chain, client certificate, no resumption) for 3 s...');
    const handshake = await handshakeCost(server, client, ca.trustAnchorsPem, '127.0.23.110', 3);
    ctx.log('');
    ctx.log(table(['CA issuance', 'certificates', 'per second', 'failures'], issuance.map((r) => [`${r.concurrency} concurrent caller(s)`, r.certificates, r.perSecond, r.failures])));
    ctx.log('');
    ctx.log(table(['full mTLS handshake', 'count', 'mean ms', 'p50 ms', 'p99 ms', 'CPU ms (both ends)'], [['sequential, one process', handshake.handshakes, handshake.meanMs, handshake.p50Ms, handshake.p99Ms, handshake.cpuMsPerHandshake]]));

    // The identity engineer's figures (bench/identity.ts): signing alone, CA and caller in one process.
    ctx.log('\nCA figures in one process (bench/identity.ts):');
    const inProcess = await runIdentityBench({ issueMs: 2000 });
    const results: Record<string, unknown> = { issuance, handshake, inProcess };
    if (!proxyTakesIdentity()) {
      ctx.log('\nthroughput with mTLS: not available yet (mesh proxy takes no identity settings: MESH_IDENTITY_ADDR is not among its options)');
      return results;
    }
    results.throughput = await throughput(ctx, ca);
    return results;
  },
};

async function throughput(ctx: BenchContext, ca: RunningCa) {
  const tokens = join(ctx.logDir, 'tokens');
  mkdirSync(tokens, { recursive: true });
  const identityEnv = (sa: string) => {
    const tokenFile = join(tokens, `${sa}.jwt`);
    writeFileSync(tokenFile, ca.tokenFor('bench', sa));
    return {
      MESH_IDENTITY: spiffeId(TRUST_DOMAIN, 'bench', sa),
      MESH_IDENTITY_ADDR: ca.addr,
      MESH_TRUST_ANCHORS: join(ca.dir, 'ca.crt'),
      MESH_TOKEN_FILE: tokenFile,
    };
  };
  ctx.log('\nstarting a cleartext and an mTLS two-proxy path (each proxy and app its own process)...');
  const [clear, mtls] = await Promise.all([
    startTopology({ logDir: ctx.logDir, proxyCommand: ctx.proxyCommand, name: 'clear', clientPod: '127.0.23.100', serverPod: '127.0.23.101' }),
    startTopology({
      logDir: ctx.logDir,
      proxyCommand: ctx.proxyCommand,
      name: 'mtls',
      clientPod: '127.0.23.102',
      serverPod: '127.0.23.103',
      serverIdentity: spiffeId(TRUST_DOMAIN, 'bench', 'server'),
      outbound: { env: identityEnv('client') },
      inbound: { env: identityEnv('server') },
    }),
  ]);
  ctx.onCleanup(() => clear.stop());
  ctx.onCleanup(() => mtls.stop());
  await checkSamePath(clear);
  await checkSamePath(mtls);
  // A proxy that accepts the identity settings but still dials in cleartext would make this a cleartext-vs-cleartext run.
  const tlsHops = sumOf(parsePrometheus(await (await request(`${mtls.adminUrl.outbound}/metrics`)).body.text()), 'tcp_open_total', { direction: 'outbound', peer: 'dst', tls: 'true' });
  if (tlsHops === 0) {
    ctx.log('throughput with mTLS: not measured: the mTLS path works but its outbound proxy opened no TLS connection (tcp_open_total{peer="dst",tls="true"} is 0); the proxy does not use its identity yet');
    return { skipped: 'the outbound proxy opened no TLS connection to the inbound proxy' };
  }
  const [direct, cleartext, secured] = await measurePaths(ctx, [
    { label: 'direct', url: clear.directUrl, proxies: [] },
    { label: 'cleartext mesh', url: clear.meshUrl, headers: clear.meshHeaders, proxies: [clear.outbound, clear.inbound] },
    { label: 'mTLS mesh', url: mtls.meshUrl, headers: mtls.meshHeaders, proxies: [mtls.outbound, mtls.inbound] },
  ]);
  const vsDirect = meshAgainstDirect(direct!, secured!, ctx.rate);
  const mtlsOverClear = secured!.saturating.rps / cleartext!.saturating.rps;
  ctx.log('');
  ctx.log(`throughput mTLS/cleartext: ${mtlsOverClear.toFixed(3)} (TLS costs ${((1 - mtlsOverClear) * 100).toFixed(0)}%)`);
  ctx.log(barLines(vsDirect.bars));
  return { direct, cleartext, mtls: secured, mtlsOverCleartext: mtlsOverClear, ...vsDirect };
}
