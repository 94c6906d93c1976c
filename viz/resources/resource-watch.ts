// Every resource the destination holds, with its state, from Resources.WatchResources
// (api/destination.proto), kept by a ListWatch as the pods are.
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { HeldResource } from '../../api/destination-types.ts';
import { ListWatch, type DestinationPeer } from '../watch/list-watch.ts';

type WireResources = { resources?: HeldResource[] };

export type ResourceWatch = ListWatch<WireResources, HeldResource>;

export function watchResources(peer: DestinationPeer): ResourceWatch {
  return new ListWatch(peer, {
    name: 'resources',
    open: (stubs) => stubs.resources.watchResources({}) as ClientReadableStream<WireResources>,
    // proto-loader leaves empty repeated fields out.
    itemsOf: (message) => (message.resources ?? []).map((r) => ({ ...r, problems: [...(r.problems ?? [])], authorizations: [...(r.authorizations ?? [])] })),
  });
}
