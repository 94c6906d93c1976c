// What `mesh <command> --help` tells a learner, where a line once said something misleading.
import { expect, it } from 'vitest';
import { runMesh } from './run-mesh.ts';

it('mesh viz top --help says when the table is printed once, apart from the --viz-addr line', async () => {
  const { code, out } = await runMesh(['viz', 'top', '--help']);
  expect(code).toBe(0);
  const lines = out.split('\n');
  // The note on the default duration off a terminal once hung under --viz-addr, as if it were that flag's.
  const vizAddr = lines.findIndex((l) => l.trimStart().startsWith('--viz-addr'));
  expect(lines[vizAddr + 1]!.trimStart()).toMatch(/^-o, --output/);
  expect(out).toContain('Otherwise\n(a pipe, a file, -o json) --duration defaults to 10 and the table is printed once, at the end.');
});
