// The --netns and --kubernetes runners start themselves again inside a namespace through a launcher
// (nsenter, ip netns exec). A launcher that cannot be started must give a clear, coded error that
// names it, not crash the runner on an 'error' event nobody listens to; one that runs passes its
// exit code back.
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InnerRunnerError, runInner } from '../../../examples/orders-checkout/runner/inner-runner.ts';

const dir = mkdtempSync(join(tmpdir(), 'inner-runner-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runInner', () => {
  it('a launcher that is not installed rejects with INNER_RUNNER naming it and what provides it', async () => {
    const err = (await runInner('mesh-no-such-nsenter', ['--', 'true'], process.env, 'nsenter is in util-linux').catch((e: unknown) => e)) as InnerRunnerError;
    expect(err).toBeInstanceOf(InnerRunnerError);
    expect(err.code).toBe('INNER_RUNNER');
    expect(err.message).toMatch(/^cannot start the runner inside the namespace: mesh-no-such-nsenter: spawn mesh-no-such-nsenter ENOENT \(nsenter is in util-linux\)$/);
  });

  it('a launcher that passes a PATH check but cannot be executed rejects the same way', async () => {
    // Executable, so a preflight's X_OK check passes, but its interpreter is missing: exec fails.
    const launcher = join(dir, 'broken-nsenter');
    writeFileSync(launcher, '#!/nonexistent/interpreter\n');
    chmodSync(launcher, 0o755);
    accessSync(launcher, constants.X_OK);
    const err = (await runInner(launcher, [], process.env, 'hint').catch((e: unknown) => e)) as InnerRunnerError;
    expect(err).toBeInstanceOf(InnerRunnerError);
    expect(err.message).toContain(`${launcher}: spawn ${launcher} ENOENT`);
  });

  it('a runner that starts gets the environment and its exit code comes back', async () => {
    const code = await runInner(process.execPath, ['-e', 'process.exit(Number(process.env.INNER_EXIT))'], { ...process.env, INNER_EXIT: '7' }, 'hint');
    expect(code).toBe(7);
    // The signal forwarders are removed once it has ended.
    expect(process.listeners('SIGTERM').some((l) => l.name === 'onTerm')).toBe(false);
  });
});
