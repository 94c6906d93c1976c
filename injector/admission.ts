// The admission.k8s.io/v1 AdmissionReview the webhook reads and answers: hostile-input checks on
// the way in, and an answer that always admits (a mesh must not block deploys on its own errors).
import { InjectorError } from './errors.ts';
import type { PatchOp } from './json-patch.ts';
import { isObject } from './workloads.ts';

const API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionRequest {
  uid: string;
  operation: string;
  /** The namespace the object is created in; a Pod from a ReplicaSet often carries none itself. */
  namespace: string;
  kind: string;
  name: string;
  object: unknown;
}

/** Parses a request body; throws BAD_REVIEW naming what is wrong and where. */
export function parseAdmissionReview(body: string): AdmissionRequest {
  let review: unknown;
  try {
    review = JSON.parse(body);
  } catch (err) {
    throw new InjectorError('BAD_REVIEW', `body is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const bad = (problem: string): never => {
    throw new InjectorError('BAD_REVIEW', problem);
  };
  if (!isObject(review)) return bad('body: expected an AdmissionReview object');
  if (review.apiVersion !== API_VERSION) {
    bad(`apiVersion: expected ${API_VERSION}, got ${JSON.stringify(review.apiVersion)} (set admissionReviewVersions: ["v1"] on the webhook)`);
  }
  if (review.kind !== 'AdmissionReview') bad(`kind: expected AdmissionReview, got ${JSON.stringify(review.kind)}`);
  const request = review.request;
  if (!isObject(request)) return bad('request: missing or not an object');
  if (typeof request.uid !== 'string' || request.uid === '') bad('request.uid: missing or not a non-empty string');
  if (typeof request.operation !== 'string') bad('request.operation: missing or not a string');
  if (request.namespace !== undefined && typeof request.namespace !== 'string') bad('request.namespace: not a string');
  const object = request.object ?? null;
  if (object !== null && !isObject(object)) bad('request.object: expected an object or null');
  const kind = isObject(request.kind) && typeof request.kind.kind === 'string' ? request.kind.kind : '';
  return {
    uid: request.uid as string,
    operation: request.operation as string,
    namespace: (request.namespace as string | undefined) || 'default',
    kind,
    name: typeof request.name === 'string' ? request.name : '',
    object,
  };
}

/** The answer: allowed, with the patch when there is one, and warnings the API server shows to kubectl. */
export function admissionResponse(uid: string, patch: PatchOp[], warnings: string[]): object {
  const response: Record<string, unknown> = { uid, allowed: true };
  if (patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  if (warnings.length > 0) response.warnings = warnings.map((w) => `mesh injector: ${w}`);
  return { apiVersion: API_VERSION, kind: 'AdmissionReview', response };
}
