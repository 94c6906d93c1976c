// Workload objects for the injector tests, built fresh per call so no test sees another's edits.

export function podSpec(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    serviceAccountName: 'orders',
    containers: [{ name: 'orders', image: 'orders:1', ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9090 }] }],
    ...extra,
  };
}

const TEMPLATED: Record<string, string> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  Job: 'batch/v1',
};

/** A workload of `kind` named `orders` in `production` whose pod template carries `annotations`. */
export function workload(kind: string, annotations?: Record<string, string>, spec = podSpec()): Record<string, any> {
  const metadata = { labels: { app: 'orders' }, ...(annotations ? { annotations } : {}) };
  if (kind === 'Pod') return { apiVersion: 'v1', kind, metadata: { name: 'orders-1', namespace: 'production', ...metadata }, spec };
  const template = { metadata, spec };
  if (kind === 'CronJob') {
    return { apiVersion: 'batch/v1', kind, metadata: { name: 'orders', namespace: 'production' }, spec: { schedule: '* * * * *', jobTemplate: { spec: { template } } } };
  }
  return { apiVersion: TEMPLATED[kind], kind, metadata: { name: 'orders', namespace: 'production' }, spec: { selector: { matchLabels: { app: 'orders' } }, template } };
}

/** The pod template inside any workload made by `workload`. */
export function templateOf(obj: Record<string, any>): Record<string, any> {
  if (obj.kind === 'Pod') return obj;
  if (obj.kind === 'CronJob') return obj.spec.jobTemplate.spec.template;
  return obj.spec.template;
}
