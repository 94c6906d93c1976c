// `mesh viz install`: the lesson's `linkerd viz install | kubectl apply -f -`. Here the viz is
// part of the control plane that `mesh install` prints, so with no settings this says so and
// prints only the viz's namespace, the same object `mesh install` made: piped into kubectl it
// changes nothing and fails nothing, where an empty input would make kubectl fail with "no
// objects passed to apply". With the lesson's `--set prometheusUrl=URL` (and the settings the
// viz's Deployment is rendered from) it prints the namespace and that Deployment, so that kubectl
// points the installed viz at an external Prometheus.
import { vizDeployment, vizNamespace } from '../../install/control-plane.ts';
import { InstallError } from '../../install/errors.ts';
import { toYaml } from '../../install/render.ts';
import { applySet, defaultValues, highAvailability, settingKey } from '../../install/values.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';

export const summary = 'the viz is part of mesh install: prints its namespace, or with --set prometheusUrl=URL its Deployment reading that Prometheus (for kubectl apply -f -)';

/** The settings the viz's Deployment is rendered from (`mesh install`'s keys of the same names). */
const VIZ_KEYS = ['prometheusUrl', 'clusterDomain', 'identityTrustDomain', 'image.name', 'image.version', 'controllerLogLevel', 'enablePodAntiAffinity'];

const USAGE = `usage: mesh viz install [--ha] [--set key=value ...]

The viz is part of the control plane here: mesh install already creates it (Deployment mesh-viz
in namespace mesh-viz, the API on 8085 and the dashboard on 8084), and npm start runs it beside the
demo. With no --set this prints only the viz's namespace, so "mesh viz install | kubectl apply -f -"
changes nothing. Then: mesh viz check.

  --set prometheusUrl=URL   the viz reads this Prometheus's API instead of scraping every proxy
                            itself (as Linkerd viz's prometheusUrl); prints the viz's Deployment
                            with it, for kubectl apply. That Prometheus must scrape the proxies:
                            mesh viz prometheus-config prints its scrape configuration.
  --ha                      as mesh install --ha (its anti-affinity and rolling-update strategy)
keys: ${VIZ_KEYS.join(', ')} (give what mesh install was given: the Deployment is rendered from them)`;

const NOTE = 'mesh viz install: nothing to add: mesh install already installs the viz (Deployment mesh-viz in namespace mesh-viz), and npm start runs it beside the demo; printed only its namespace, which kubectl leaves unchanged. Next: mesh viz check';

export function run(args: string[]): Promise<number> {
  return runCommand('viz install', USAGE, async () => {
    const { values: flags } = parseCommandArgs(args, { set: { type: 'string', multiple: true }, ha: { type: 'boolean', default: false } });
    const sets = flags.set ?? [];
    if (sets.length === 0 && !flags.ha) {
      process.stdout.write(toYaml([vizNamespace()]));
      console.error(NOTE);
      return 0;
    }
    const values = defaultValues();
    if (flags.ha) highAvailability(values);
    for (const assignment of sets) {
      if (!VIZ_KEYS.includes(settingKey(assignment))) {
        throw new UsageError(`--set ${assignment.length > 60 ? `${assignment.slice(0, 60)}...` : assignment}: not a setting of the viz's Deployment (its keys: ${VIZ_KEYS.join(', ')}); mesh install --set configures the rest of the control plane`);
      }
      try {
        applySet(values, assignment);
      } catch (err) {
        if (!(err instanceof InstallError)) throw err;
        console.error(`mesh viz install: ${err.message}`);
        return 1;
      }
    }
    process.stdout.write(toYaml([vizNamespace(), vizDeployment(values)]));
    console.error(values.prometheusUrl
      ? `mesh viz install: printed the viz's Deployment reading ${values.prometheusUrl} instead of scraping the proxies; apply it after mesh install. That Prometheus must scrape every proxy: mesh viz prometheus-config prints the scrape configuration. Next: mesh viz check`
      : 'mesh viz install: printed the viz\'s Deployment scraping every proxy itself (no prometheusUrl); apply it after mesh install. Next: mesh viz check');
    return 0;
  });
}
