// How a container's process starts on this node: in a mount namespace of its own (unshare), where
// its volumes are bound at their mountPaths and the node's hosts file at /etc/hosts, so a pod spec
// written for a cluster (the injector's /var/run/secrets/tokens, a service account's token folder)
// runs unchanged. The "image" is this checkout: the working directory is the project, and `mesh`
// and `node` are on the PATH. Pods share the node's network namespace; each has its own address.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { codedError } from '../../../../api/errors.ts';

export class SandboxError extends codedError('POD_SANDBOX') {}

/** The argv of a container, as Kubernetes composes it: `command` replaces the image's entrypoint, `args` its CMD. */
export function containerArgv(c: k8s.V1Container, expandVar: (s: string) => string): string[] {
  // The one image runs every part with `mesh` on its PATH (DESIGN.md, "Beyond one machine"): its entrypoint.
  const argv = [...(c.command ?? ['mesh']), ...(c.args ?? [])].map(expandVar);
  if (argv.length === 0 || argv[0] === '') throw new SandboxError(`container ${c.name}: no command`);
  return argv;
}

/** Puts a `mesh` command on a folder for the PATH: the image's `mesh` is this checkout's bin/mesh.js. */
export function writeMeshShim(binDir: string, root: string): void {
  mkdirSync(binDir, { recursive: true });
  const file = join(binDir, 'mesh');
  writeFileSync(file, `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(join(root, 'bin/mesh.js'))} "$@"\n`);
  chmodSync(file, 0o755);
}

export interface SandboxPlan {
  argv: string[];
  mounts: Array<{ source: string; target: string; readOnly: boolean }>;
  hostsFile: string;
  workingDir: string;
}

/** The mounts a container asks for, resolved against the pod's volume folders. */
export function containerMounts(c: k8s.V1Container, volumes: Map<string, string>): SandboxPlan['mounts'] {
  return (c.volumeMounts ?? []).map((m) => {
    const folder = volumes.get(m.name);
    if (!folder) throw new SandboxError(`container ${c.name}: volumeMount ${m.name}: the pod has no volume of that name`);
    if (!posix.isAbsolute(m.mountPath)) throw new SandboxError(`container ${c.name}: volumeMount ${m.name}: mountPath must be absolute, got ${JSON.stringify(m.mountPath)}`);
    return { source: m.subPath ? join(folder, m.subPath) : folder, target: m.mountPath, readOnly: m.readOnly === true };
  });
}

/**
 * The command that starts the container: unshare a mount namespace, lay a private tmpfs over /run
 * when a mount lives there (the host's /run stays untouched and unseen, as a container's would),
 * bind the volumes and /etc/hosts, then exec the container's own argv in its working directory.
 */
export function sandboxCommand(plan: SandboxPlan): string[] {
  const lines = ['set -e'];
  const underRun = (p: string) => p === '/run' || p.startsWith('/run/') || p === '/var/run' || p.startsWith('/var/run/');
  if (plan.mounts.some((m) => underRun(m.target))) lines.push('mount -t tmpfs -o mode=755 mesh-pod-run /run');
  for (const m of plan.mounts) {
    lines.push(`mkdir -p ${quote(m.target)}`, `mount --bind ${quote(m.source)} ${quote(m.target)}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${quote(m.target)}`);
  }
  lines.push(`mount --bind ${quote(plan.hostsFile)} /etc/hosts`, `cd ${quote(plan.workingDir)}`, 'exec "$@"');
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', lines.join('\n'), 'mesh-pod', ...plan.argv];
}

/** The PATH a container sees: the `mesh` shim, the Node that runs the node, then the usual. */
export function containerPath(binDir: string): string {
  return [binDir, dirname(process.execPath), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
