// Traffic split: an HTTPRoute rule's weighted backendRefs, one backend drawn per request (and per
// retry attempt) in proportion to its weight; the concrete tier is looked up per request.
import type { WeightedBackend } from '../../../api/destination-types.ts';
import { ProxyError } from '../../errors.ts';
import type { Service } from '../../http/message.ts';

export function pickBackend(backends: WeightedBackend[], random: () => number = Math.random): WeightedBackend | undefined {
  const total = backends.reduce((sum, b) => sum + Math.max(0, b.weight), 0);
  if (total <= 0) return undefined;
  let r = random() * total;
  for (const b of backends) {
    r -= Math.max(0, b.weight);
    if (r < 0) return b;
  }
  return [...backends].reverse().find((b) => b.weight > 0); // float rounding at the top end
}

export function splitService(
  backends: WeightedBackend[],
  concrete: (authority: string) => Service,
  describe: string,
  random?: () => number,
): Service {
  return (req) => {
    const backend = pickBackend(backends, random);
    if (!backend) {
      // Gateway API: a rule whose backends all weigh 0 must not route anywhere.
      return Promise.reject(new ProxyError('NO_ENDPOINTS', `${describe}: every backendRef has weight 0`));
    }
    req.ctx.labels.backend = backend.authority; // bounded: the rule's configured backends
    req.ctx.journey?.add('split', `backend ${backend.authority} (weight ${backend.weight} of ${backends.reduce((sum, b) => sum + Math.max(0, b.weight), 0)})`);
    return concrete(backend.authority)(req);
  };
}
