// The AdmissionReview (admission.k8s.io v1, and v1beta1 for API servers that send only it) the
// webhook reads and answers: hostile-input checks on the way in, and an answer in the same
// version that always admits (a mesh must not block deploys on its own errors).
import { InjectorError } from './errors.ts';
import type { PatchOp } from './json-patch.ts';
import { isObject } from './workloads.ts';

/** v1 first: the configuration asks for it; v1beta1 (same fields) is what servers before 1.16 send. */
const API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
type ReviewVersion = (typeof API_VERSIONS)[number];

export interface AdmissionRequest {
  /** The answer goes back in the version the question came in. */
  apiVersion: ReviewVersion;
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
  if (!(API_VERSIONS as readonly unknown[]).includes(review.apiVersion)) {
    bad(`apiVersion: expected ${API_VERSIONS.join(' or ')}, got ${JSON.stringify(review.apiVersion)} (set admissionReviewVersions: ["v1", "v1beta1"] on the webhook)`);
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
    apiVersion: review.apiVersion as ReviewVersion,
    uid: request.uid as string,
    operation: request.operation as string,
    namespace: (request.namespace as string | undefined) || 'default',
    kind,
    name: typeof request.name === 'string' ? request.name : '',
    object,
  };
}

/** The answer: allowed, with the patch when there is one, and warnings the API server shows to kubectl. */
export function admissionResponse(apiVersion: ReviewVersion, uid: string, patch: PatchOp[], warnings: string[]): object {
  const response: Record<string, unknown> = { uid, allowed: true };
  if (patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  if (warnings.length > 0) response.warnings = warnings.map((w) => `mesh injector: ${w}`);
  return { apiVersion, kind: 'AdmissionReview', response };
}
