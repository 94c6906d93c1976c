// Where a command finds its Kubernetes cluster: a kubeconfig (a flag, $KUBECONFIG, ~/.kube/config)
// or, inside a pod, the in-cluster service account; loaded by @kubernetes/client-node.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { CodedError } from './errors.ts';

/** A cluster that could not be found: no such kubeconfig, no context; the message names which. */
export class KubeConfigError extends CodedError<'KUBE_CONFIG'> {
  override readonly name = 'KubeConfigError';
}

/**
 * A call through the typed client (askKube) that failed: refused or unanswered; the message names
 * the request and the server. Its own code: the control plane's KubeApiError has finer ones.
 */
export class KubeCallError extends CodedError<'KUBE_CALL'> {
  override readonly name = 'KubeCallError';
}

/** The kubeconfig a command would use, as kubectl picks it: the flag, $KUBECONFIG, ~/.kube/config; undefined: none. */
export function findKubeconfig(flag?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag) return flag;
  // kubectl takes the first of a colon-separated list; so do we (merging them is kubectl's business).
  const fromEnv = env.KUBECONFIG?.split(':').find(Boolean);
  if (fromEnv) return fromEnv;
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

/** Loads `path`, or without one the in-cluster configuration; throws KUBE_CONFIG naming which. */
export function loadKubeConfig(path?: string): KubeConfig {
  const config = new KubeConfig();
  try {
    if (path) {
      if (!existsSync(path)) throw new Error('no such file');
      config.loadFromFile(path);
    } else if (process.env['KUBERNETES_SERVICE_HOST']) {
      config.loadFromCluster();
    } else {
      throw new Error('no kubeconfig given and not inside a cluster (KUBERNETES_SERVICE_HOST is unset)');
    }
  } catch (err) {
    throw new KubeConfigError('KUBE_CONFIG', `kubeconfig ${path ?? '(in-cluster)'}: ${(err as Error).message}`, { cause: err });
  }
  if (!config.getCurrentCluster()?.server) throw new KubeConfigError('KUBE_CONFIG', `kubeconfig ${path ?? '(in-cluster)'}: the current context names no cluster server (set current-context)`);
  return config;
}

/** One request; a refusal names the request, the server, the HTTP status and the server's own reason. */
export async function askKube<T>(config: KubeConfig, what: string, call: () => Promise<T>): Promise<T> {
  const server = config.getCurrentCluster()?.server ?? '(no server)';
  try {
    return await call();
  } catch (err) {
    if (err instanceof ApiException) {
      throw new KubeCallError('KUBE_CALL', `${what} at ${server}: HTTP ${err.code}${statusMessage(err.body)}`, { cause: err });
    }
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as NodeJS.ErrnoException).code;
    throw new KubeCallError('KUBE_CALL', `${what} at ${server}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`, { cause: err });
  }
}

/** `: <the Status object's message>`, when the body is one. */
function statusMessage(body: unknown): string {
  try {
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown };
    return typeof status?.message === 'string' ? `: ${status.message}` : '';
  } catch {
    return '';
  }
}

/** The HTTP status of a refusal askKube threw (404 for "not there"), else undefined. */
export function kubeStatus(err: unknown): number | undefined {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof ApiException ? cause.code : undefined;
}
