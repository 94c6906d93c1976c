// Per-route series in Linkerd's names: `route_*` count each request the app sent once
// ("effective"), `route_actual_*` count every attempt, retries included ("actual"), labelled
// by `direction`, `dst` (the authority the app named) and `rt_route` (the route's name).
import type { Layer } from '../http/message.ts';
import type { BoundedLabelValues } from './bounded-values.ts';
import type { LabelSet } from './http-labels.ts';
import { RequestSeries } from './http-series.ts';
import { createRequestLayer } from './request-layer.ts';

/** linkerd2-proxy's route labels: direction, dst, and the route's own labels prefixed `rt_`. */
export const ROUTE_LABELS = ['direction', 'dst', 'rt_route'] as const;

export interface RouteLayers {
  /** Outermost in the route's stack: once per request, whatever retries and timeouts do below. */
  effective: Layer;
  /**
   * Below the retry layer: once per attempt. Absent when the route does not retry: each request
   * is then exactly one attempt, and the actual series is the effective one (the same object in
   * both tables), which spares every request of such a route a second layer.
   */
  actual?: Layer;
}

export class RouteSeries {
  readonly effective = new Map<string, RequestSeries>();
  readonly actual = new Map<string, RequestSeries>();

  constructor(private readonly bound: { authority: BoundedLabelValues; route: BoundedLabelValues }) {}

  /**
   * The two metrics layers of one route of one logical target. Its label set is fixed when the
   * route's stack is built (once per route and profile version), so its series are looked up
   * here, once, and a request pays no lookup at all.
   */
  layers(dst: string, route: string | undefined, retries: boolean): RouteLayers {
    const labels: LabelSet = { direction: 'outbound', dst: this.bound.authority.value(dst.toLowerCase()) };
    if (route) labels.rt_route = this.bound.route.value(route);
    const key = `${labels.dst}\u0000${labels.rt_route ?? ''}`;
    const effective = seriesIn(this.effective, key, labels);
    const effectiveLayer = createRequestLayer(() => effective);
    const shared = this.actual.get(key);
    if (!retries && (shared === undefined || shared === effective)) {
      this.actual.set(key, effective);
      return { effective: effectiveLayer };
    }
    // A route that retries (or one whose earlier version did) counts its attempts apart. If the
    // actual series was shared so far, it goes on from a copy, so its counts do not go backwards.
    const actual = shared === undefined ? new RequestSeries(labels) : shared === effective ? effective.copy() : shared;
    this.actual.set(key, actual);
    return { effective: effectiveLayer, actual: createRequestLayer(() => actual) };
  }
}

function seriesIn(table: Map<string, RequestSeries>, key: string, labels: LabelSet): RequestSeries {
  let series = table.get(key);
  if (!series) {
    series = new RequestSeries(labels);
    table.set(key, series);
  }
  return series;
}
