// The proxy's metrics, as other parts import them.
export { ProxyMetrics, LATENCY_BUCKETS_MS, type ProxyMetricsOptions, type RetryLabels, type ConnectionLabels } from './proxy-metrics.ts';
