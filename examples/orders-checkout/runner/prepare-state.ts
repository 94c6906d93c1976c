// Prepares the state folder before the mesh starts: the CA's trust anchor and issuer on first
// run (`mesh identity init`), then a service-account token for every meshed pod and for the
// destination and the viz, signed by the control plane as a pod is started (DESIGN.md, "Identity").
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DemoPlan } from './topology.ts';
import { identityDir, identityInitCommand, tokenCommand } from './mesh-commands.ts';
import { CONTROL_PLANE_NAMESPACE } from '../../../api/spiffe.ts';
import { codedError } from '../../../api/errors.ts';
import { FILES } from '../../../identity/files.ts';
import { Ed25519TokenValidator } from '../../../identity/token.ts';
import { VIZ_NAMESPACE, VIZ_SERVICE_ACCOUNT } from '../../../viz/identity.ts';

export class PrepareError extends codedError('STATE_PREPARE') {}

/** Runs a mesh command to completion; resolves with its stdout, rejects with its stderr. */
function runMesh(argv: string[], root: string): Promise<string> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    // Its own process group: a Ctrl-C in the terminal reaches the runner, which finishes this
    // short step and then stops in order, instead of half-written state.
    const child = spawn(cmd === 'node' ? process.execPath : cmd!, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    // 'close', not 'exit': 'exit' can come before the pipes have been read to their end, and on
    // a busy machine it does (a token file of one byte, and a proxy that never got certified).
    child.on('close', (code, signal) => (code === 0 ? resolve(out) : reject(new Error((err || out).trim() || `exit ${signal ?? `code ${code}`}`))));
  });
}

/** First run: a new trust anchor and issuer. Later runs: the existing ones, checked by the CA at start. */
export async function ensureIdentity(plan: DemoPlan, root: string): Promise<'created' | 'existing'> {
  const dir = identityDir(plan.placement);
  if (existsSync(dir) && readdirSync(dir).length > 0) return 'existing';
  mkdirSync(dirname(dir), { recursive: true });
  try {
    await runMesh(identityInitCommand(plan.placement), root);
  } catch (err) {
    throw new PrepareError(`could not create the trust anchor in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return 'created';
}

/** Mints the tokens the proxies (and the destination) present to the CA. */
export async function mintTokens(plan: DemoPlan, root: string): Promise<void> {
  const tokensDir = `${plan.placement.stateDir}/tokens`;
  mkdirSync(tokensDir, { recursive: true });
  const wanted = [
    // The destination serves as spiffe://<td>/ns/mesh-system/sa/destination (the control plane's namespace).
    { file: 'destination', ns: CONTROL_PLANE_NAMESPACE, sa: 'destination' },
    // The viz taps proxies as spiffe://<td>/ns/mesh-viz/sa/tap, the one identity they let tap.
    { file: 'viz', ns: VIZ_NAMESPACE, sa: VIZ_SERVICE_ACCOUNT },
    ...[plan.ingress, ...plan.pods].filter((p) => p.meshed).map((p) => ({ file: p.name, ns: p.namespace, sa: p.serviceAccount })),
  ];
  // Every token is checked before a proxy presents it: three parts and a signature that
  // verifies with the CA's key, for the account it was asked for.
  const validator = new Ed25519TokenValidator(readFileSync(join(identityDir(plan.placement), FILES.tokenPub), 'utf8'));
  // One command per service account, shared by its pods: fewer processes to start.
  const bySa = new Map<string, Promise<string>>();
  await Promise.all(wanted.map(async (w) => {
    const key = `${w.ns}/${w.sa}`;
    if (!bySa.has(key)) bySa.set(key, runMesh(tokenCommand(plan.placement, w.ns, w.sa), root));
    let token: string;
    try {
      token = (await bySa.get(key)!).trim();
      const subject = await validator.validate(token);
      if (subject.namespace !== w.ns || subject.serviceAccount !== w.sa) {
        throw new Error(`the token names ${subject.namespace}/${subject.serviceAccount}`);
      }
    } catch (err) {
      throw new PrepareError(`could not mint a token for ${key}: ${(err as Error).message}\n` +
        `  If the state folder is damaged, remove it and start again: rm -rf ${plan.placement.stateDir}`, { cause: err });
    }
    const file = `${tokensDir}/${w.file}.jwt`;
    writeFileSync(file, token + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
  }));
}
