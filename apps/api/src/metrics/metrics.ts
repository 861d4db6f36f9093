import { makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';

/** Every metric the API exports (docs/monitoring). Dashboards and alerts may query only these. */
export const METRIC = {
  httpDuration: 't2v_http_request_duration_seconds',
  jobsSubmitted: 't2v_jobs_submitted_total',
  jobsFinished: 't2v_jobs_finished_total',
  queueDepth: 't2v_queue_depth',
  jobsInProgress: 't2v_jobs_in_progress',
  queueWait: 't2v_job_queue_wait_seconds',
  inference: 't2v_job_inference_seconds',
  encode: 't2v_job_encode_seconds',
  workerState: 't2v_worker_state',
  workerRestarts: 't2v_worker_restarts_total',
  modelLoad: 't2v_model_load_seconds',
  gpuReady: 't2v_gpu_ready_seconds',
  gpuMemoryUsed: 't2v_gpu_memory_used_bytes',
  gpuMemoryTotal: 't2v_gpu_memory_total_bytes',
  cacheHits: 't2v_cache_hits_total',
  webhookDeliveries: 't2v_webhook_deliveries_total',
} as const;

const JOB_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

export const metricProviders = [
  makeHistogramProvider({
    name: METRIC.httpDuration,
    help: 'HTTP request duration by route and status.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  }),
  makeCounterProvider({ name: METRIC.jobsSubmitted, help: 'Jobs accepted.', labelNames: ['model'] }),
  makeCounterProvider({
    name: METRIC.jobsFinished,
    help: 'Jobs that reached a terminal state.',
    labelNames: ['model', 'status'],
  }),
  makeGaugeProvider({ name: METRIC.queueDepth, help: 'Jobs waiting in the queue.' }),
  makeGaugeProvider({ name: METRIC.jobsInProgress, help: 'Jobs running on a worker.' }),
  makeHistogramProvider({
    name: METRIC.queueWait,
    help: 'Seconds from accept to start.',
    buckets: JOB_BUCKETS,
  }),
  makeHistogramProvider({
    name: METRIC.inference,
    help: 'Seconds of denoising per job.',
    buckets: JOB_BUCKETS,
  }),
  makeHistogramProvider({
    name: METRIC.encode,
    help: 'Seconds of decode + MP4 encode per job.',
    buckets: JOB_BUCKETS,
  }),
  makeGaugeProvider({
    name: METRIC.workerState,
    help: '1 for the state each worker is in, 0 for the others.',
    labelNames: ['worker', 'state'],
  }),
  makeCounterProvider({
    name: METRIC.workerRestarts,
    help: 'Worker process restarts.',
    labelNames: ['worker'],
  }),
  makeGaugeProvider({
    name: METRIC.modelLoad,
    help: 'Seconds the last model load took.',
    labelNames: ['worker'],
  }),
  makeHistogramProvider({
    name: METRIC.gpuReady,
    help: 'Seconds from the start of a process with workers (a GPU pod) to its first worker ready: model loaded and warmed up.',
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800],
  }),
  makeGaugeProvider({ name: METRIC.gpuMemoryUsed, help: 'GPU memory in use.', labelNames: ['device'] }),
  makeGaugeProvider({ name: METRIC.gpuMemoryTotal, help: 'GPU memory in total.', labelNames: ['device'] }),
  makeCounterProvider({ name: METRIC.cacheHits, help: 'Creates served from the result cache.' }),
  makeCounterProvider({
    name: METRIC.webhookDeliveries,
    help: 'Webhook delivery attempts by result.',
    labelNames: ['result'],
  }),
];
