// The first thing `mesh check` needs: the running demo, found as every `mesh` command finds it.
// Without it nothing else can be checked, so its failure ends the run (Linkerd's kubernetes-api).
import { DemoNotFound, findDemo, type FoundDemo } from '../find-demo.ts';
import { fail, okWith, type Category } from './report.ts';

export function demoCategory(stateFlag: string | undefined, found: (demo: FoundDemo) => void): Category {
  return {
    name: 'mesh-demo',
    checks: [{
      description: 'the running demo is found', hint: 'start it with: npm start (mesh check --pre checks this machine first)', fatal: true,
      run: () => {
        try {
          const demo = findDemo({ flag: stateFlag });
          found(demo);
          return okWith(`state folder ${demo.dir}`);
        } catch (err) {
          if (!(err instanceof DemoNotFound)) throw err;
          return fail(err.message, 'start it with: npm start (mesh check --pre checks this machine first)');
        }
      },
    }],
  };
}
