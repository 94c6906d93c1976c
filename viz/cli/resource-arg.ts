// Resource arguments checked before the viz is asked: a typo is a usage error (exit 2) at once.
import { UsageError } from '../../cli/args.ts';
import { VizError } from '../errors.ts';
import { parseResource, type ResourceRef } from '../query/resource.ts';

export function resourceArg(text: string, what?: string): ResourceRef {
  try {
    return parseResource(text, what);
  } catch (err) {
    if (err instanceof VizError) throw new UsageError(err.message);
    throw err;
  }
}
