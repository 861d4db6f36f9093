/**
 * The metrics the API declares it exports (apps/api/src/metrics/metrics.ts), with their
 * types, so histogram series names (_bucket, _sum, _count) can be derived. The running-API
 * test checks this list against a real /metrics.
 */
export const EXPORTED_METRICS: Record<string, 'counter' | 'gauge' | 'histogram'> = {
  t2v_http_request_duration_seconds: 'histogram',
  t2v_jobs_submitted_total: 'counter',
  t2v_jobs_finished_total: 'counter',
  t2v_queue_depth: 'gauge',
  t2v_jobs_in_progress: 'gauge',
  t2v_job_queue_wait_seconds: 'histogram',
  t2v_job_inference_seconds: 'histogram',
  t2v_job_encode_seconds: 'histogram',
  t2v_worker_state: 'gauge',
  t2v_worker_restarts_total: 'counter',
  t2v_model_load_seconds: 'gauge',
  t2v_gpu_ready_seconds: 'histogram',
  t2v_gpu_memory_used_bytes: 'gauge',
  t2v_gpu_memory_total_bytes: 'gauge',
  t2v_cache_hits_total: 'counter',
  t2v_webhook_deliveries_total: 'counter',
  // prom-client default process metrics used by the dashboards
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
};

/** Every series name the list above produces. */
export function exportedSeriesNames(): Set<string> {
  const names = new Set<string>();
  for (const [name, type] of Object.entries(EXPORTED_METRICS)) {
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  }
  return names;
}
