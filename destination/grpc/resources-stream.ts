// Resources.WatchResources: every document the destination read, with its state (applied,
// warnings, refused with the field), and for each Server the authorizations that apply; whole,
// first and after every reload. Only for callers that prove a mesh identity, as WatchPods.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ResourceSet } from '../store/resource-set.ts';
import type { ResourceStore } from '../store/resource-store.ts';
import { labelsMatch } from '../store/resources.ts';
import { verifiedCallerIdentity } from './server-credentials.ts';

/** `Kind name` of each ServerAuthorization and AuthorizationPolicy that applies to Server namespace/name. */
export function authorizationsOf(set: ResourceSet, namespace: string, name: string): string[] {
  const server = set.get('Server', namespace, name);
  if (!server) return [];
  const out: string[] = [];
  for (const sa of set.ofKind('ServerAuthorization')) {
    if (sa.meta.namespace !== namespace) continue;
    const picks = sa.server.name !== undefined ? sa.server.name === name : sa.server.selector ? labelsMatch(sa.server.selector, server.meta.labels) : false;
    if (picks) out.push(`ServerAuthorization ${sa.meta.name}`);
  }
  for (const ap of set.ofKind('AuthorizationPolicy')) {
    if (ap.meta.namespace === namespace && ap.targetRef.kind === 'Server' && ap.targetRef.name === name) out.push(`AuthorizationPolicy ${ap.meta.name}`);
  }
  return out;
}

export function resourcesHandler(store: ResourceStore, logger: Logger) {
  return (call: grpc.ServerWritableStream<unknown, unknown>) => {
    const caller = verifiedCallerIdentity(call);
    if (!caller) {
      call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'WatchResources requires a client certificate from the mesh CA (any mesh identity, such as the viz\'s spiffe://<td>/ns/mesh-viz/sa/tap)' });
      return;
    }
    let last = '';
    const send = () => {
      const set = store.resources;
      const resources = store.states().map((s) => ({
        ...s, authorizations: s.kind === 'Server' && s.state !== 'refused' ? authorizationsOf(set, s.namespace, s.name) : [],
      }));
      const json = JSON.stringify(resources);
      if (json === last) return; // a reload that changed nothing
      last = json;
      call.write({ resources });
    };
    const stopListening = store.onChange(() => send());
    send();
    logger.debug({ caller }, 'resources watch opened');
    const stop = () => stopListening();
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
  };
}
