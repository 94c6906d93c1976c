#!/usr/bin/env node
// The `mesh` command: loads the TypeScript sources through tsx, then runs cli/mesh.ts.
import { register } from 'tsx/esm/api';

register();
await import('../cli/mesh.ts');
