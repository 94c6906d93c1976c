// grpc.health.v1.Health for a demo gRPC server: every gRPC server in the demo answers it, so
// `grpc_health_probe`-style checks (and the e2e test) work through the mesh.
import * as grpc from '@grpc/grpc-js';
import { healthPackage } from './grpc-protos.ts';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

/** Serves Check and Watch over a status per service name; '' is the server as a whole. */
export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Set<{ service: string; call: grpc.ServerWritableStream<{ service: string }, unknown> }>();

  constructor(services: string[]) {
    for (const name of ['', ...services]) this.statuses.set(name, 'SERVING');
  }

  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const w of this.watchers) if (w.service === service) w.call.write({ status });
  }

  addTo(server: grpc.Server): void {
    server.addService(healthPackage().Health.service, {
      check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, done: grpc.sendUnaryData<unknown>) => {
        const status = this.statuses.get(call.request.service);
        if (!status) return done({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
        done(null, { status });
      },
      watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
        const watcher = { service: call.request.service, call };
        this.watchers.add(watcher);
        call.write({ status: this.statuses.get(watcher.service) ?? 'SERVICE_UNKNOWN' });
        call.on('cancelled', () => this.watchers.delete(watcher));
        call.on('close', () => this.watchers.delete(watcher));
      },
    });
  }
}
