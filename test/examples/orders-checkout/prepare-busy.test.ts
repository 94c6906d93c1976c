// The runner's state preparation on a machine kept busy: every token it writes is whole (three
// parts, a signature the CA's key verifies). It once read a child's stdout at 'exit', before
// the pipe was drained, and wrote a one-byte token that no proxy could ever certify with.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { readWorkloads } from '../../../examples/orders-checkout/runner/deployments.ts';
import { localPlacement, planDemo } from '../../../examples/orders-checkout/runner/topology.ts';
import { ensureIdentity, mintTokens } from '../../../examples/orders-checkout/runner/prepare-state.ts';
import { defaultDirs } from '../../../examples/orders-checkout/runner/run-demo.ts';
import { Ed25519TokenValidator } from '../../../identity/token.ts';
import { burnCpus } from '../../helpers/cpu-burners.ts';

const root = join(import.meta.dirname, '../../..');
const state = mkdtempSync(join(tmpdir(), 'demo-prepare-busy-'));
afterAll(() => rmSync(state, { recursive: true, force: true }));

describe('preparing the demo state on a busy machine', () => {
  it('writes whole, verifiable tokens every time', async () => {
    const dirs = defaultDirs(root);
    const plan = planDemo(readWorkloads(dirs.workloadsDir), localPlacement(state, root), relative(root, dirs.manifestsDir));
    const burners = burnCpus(90_000);
    try {
      expect(await ensureIdentity(plan, root)).toBe('created');
      const validator = new Ed25519TokenValidator(readFileSync(join(state, 'identity', 'token-signing.pub'), 'utf8'));
      for (let round = 0; round < 3; round++) {
        await mintTokens(plan, root);
        const files = readdirSync(join(state, 'tokens'));
        expect(files).toContain('payments-0.jwt');
        for (const f of files) {
          const token = readFileSync(join(state, 'tokens', f), 'utf8').trim();
          expect(token.split('.'), `${f}, round ${round}`).toHaveLength(3);
          await expect(validator.validate(token), `${f}, round ${round}`).resolves.toMatchObject({ namespace: expect.any(String) });
        }
      }
    } finally {
      await burners.stop();
    }
  }, 120_000);
});
