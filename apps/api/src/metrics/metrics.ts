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
  gpuSeconds: 't2v_gpu_seconds_total',
  webhookDeliveries: 't2v_webhook_deliveries_total',
} as const;

const JOB_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/**
 * One metric: what Prometheus is told (name, type, HELP, label names, buckets) and what an
 * operator reads in docs/operations/metrics.md, generated from this list (`npx nx run
 * api:generate`; `api:check-generated` fails when the page is stale).
 */
export interface MetricDefinition {
  name: (typeof METRIC)[keyof typeof METRIC];
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  /** Label name → what its values are. */
  labels: Record<string, string>;
  buckets?: number[];
  /** What it tells an operator, and how it is measured. */
  meaning: string;
}

export const METRIC_DEFINITIONS: MetricDefinition[] = [
  {
    name: METRIC.httpDuration,
    type: 'histogram',
    help: 'HTTP request duration by route and status.',
    labels: {
      method: 'HTTP method',
      route: 'the route pattern (`/v1/videos/:id`), `unmatched` for no route',
      status_code: 'the status answered',
    },
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    meaning:
      'Time from the request arriving to the response finishing, per request (health, readiness and metrics included). Its `_count` by `status_code` is the request and error rate (`T2VHigh5xxRatio`). Long waits (`Prefer: wait`, `/v1/videos/sync`, SSE) land in the top buckets by design.',
  },
  {
    name: METRIC.jobsSubmitted,
    type: 'counter',
    help: 'Jobs accepted.',
    labels: { model: 'model id of the job' },
    meaning:
      'Creates that became a job (cache hits included; idempotent replays and refused requests not). Submitted minus finished is the jobs in flight.',
  },
  {
    name: METRIC.jobsFinished,
    type: 'counter',
    help: 'Jobs that reached a terminal state.',
    labels: { model: 'model id of the job', status: '`completed`, `failed` or `cancelled`' },
    meaning:
      'Jobs by how they ended, counted once by the replica that recorded the end. The failed share is `T2VJobFailureRatio`; the reason of each failure is its `error.code` on the video object and in the log (`job_id`).',
  },
  {
    name: METRIC.queueDepth,
    type: 'gauge',
    help: 'Jobs waiting in the queue.',
    labels: {},
    meaning:
      'Queued jobs, read from the store at each scrape (every replica reports the same figure). The autoscaling signal (HPA through prometheus-adapter, or KEDA); creates are refused with 503 `queue_full` at `T2V_MAX_QUEUE`.',
  },
  {
    name: METRIC.jobsInProgress,
    type: 'gauge',
    help: 'Jobs running on a worker.',
    labels: {},
    meaning: 'Jobs in progress across all replicas, read from the store at each scrape.',
  },
  {
    name: METRIC.queueWait,
    type: 'histogram',
    help: 'Seconds from accept to start.',
    labels: {},
    buckets: JOB_BUCKETS,
    meaning:
      'How long first attempts waited for a worker (retries are not observed again). Its p90 is `T2VQueueWaitTooLong`: more work than GPUs.',
  },
  {
    name: METRIC.inference,
    type: 'histogram',
    help: 'Seconds of denoising per job.',
    labels: {},
    buckets: JOB_BUCKETS,
    meaning:
      'Denoising time of each completed job as its worker measured it (size, frames and steps drive it).',
  },
  {
    name: METRIC.encode,
    type: 'histogram',
    help: 'Seconds of decode + MP4 encode per job.',
    labels: {},
    buckets: JOB_BUCKETS,
    meaning: 'VAE decode and H.264 encode time of each completed job, as its worker measured it.',
  },
  {
    name: METRIC.workerState,
    type: 'gauge',
    help: '1 for the state each worker is in, 0 for the others.',
    labels: {
      worker: 'worker id (`cpu-0`, `gpu-0`, a group of GPUs `gpu-0+1`)',
      state: '`STARTING`, `READY`, `BUSY`, `FAILED` or `STOPPED`',
    },
    meaning:
      "The supervisor's state of each worker of this replica. No worker `READY` or `BUSY` anywhere is `T2VNoReadyWorker`; a worker stuck in `FAILED` after a permanent load failure is named, with the reason, by `/readyz`.",
  },
  {
    name: METRIC.workerRestarts,
    type: 'counter',
    help: 'Worker process restarts.',
    labels: { worker: 'worker id' },
    meaning:
      'Each time a worker process was started again after it exited, stopped heartbeating, stalled or broke the protocol (`T2VWorkerRestarting`). A permanent load failure is not restarted and not counted.',
  },
  {
    name: METRIC.modelLoad,
    type: 'gauge',
    help: 'Seconds the last model load took.',
    labels: { worker: 'worker id' },
    meaning: 'Load time the worker reported when it last became ready (weights, compile and warm-up).',
  },
  {
    name: METRIC.gpuReady,
    type: 'histogram',
    help: 'Seconds from the start of a process with workers (a GPU pod) to its first worker ready: model loaded and warmed up.',
    labels: {},
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800],
    meaning:
      "Observed once per process that runs workers: from the process's start to its first worker `READY` (model loaded and warmed up). With `topology: split` this is a GPU pod's cold start after the scheduler placed it (image pull excluded, as the process starts after it); the workers dashboard's GPU cold-start panel shows its p50 and p90.",
  },
  {
    name: METRIC.gpuMemoryUsed,
    type: 'gauge',
    help: 'GPU memory in use.',
    labels: { device: "the worker's device label (`cuda:0`; a group `cuda:0,1`)" },
    meaning:
      "Bytes of GPU memory the worker's process holds, from its heartbeat (absent on CPU). Over `gpuMemoryRatio` of the total is `T2VGPUMemoryNearFull`.",
  },
  {
    name: METRIC.gpuMemoryTotal,
    type: 'gauge',
    help: 'GPU memory in total.',
    labels: { device: "the worker's device label" },
    meaning: "Total memory of the worker's GPU, from its heartbeat.",
  },
  {
    name: METRIC.cacheHits,
    type: 'counter',
    help: 'Creates served from the result cache.',
    labels: {},
    meaning: 'Seeded creates answered with a copy of an identical completed job instead of running again.',
  },
  {
    name: METRIC.gpuSeconds,
    type: 'counter',
    help: 'Worker wall time of ended runs times the devices in the worker group, by model.',
    labels: {
      model: 'model id of the job',
      caller:
        'the API key name (`key:<name>`) when only configured keys can call the API (their set is bounded); empty otherwise',
    },
    meaning:
      'GPU-seconds used, counted when a run ends (completed, failed, cancelled, or lost and retried) by the replica that records it; a CPU worker counts as one device. The durable per-caller record is `GET /v1/usage` (docs/waiting.md); this counter restarts with the process.',
  },
  {
    name: METRIC.webhookDeliveries,
    type: 'counter',
    help: 'Webhook delivery attempts by result.',
    labels: {
      result:
        '`success` (2xx), `retry` (an attempt failed, another is scheduled), `failure` (the last attempt failed), `refused` (where the delivery connects, the target is not a public address, or its URL is not one a webhook may have)',
    },
    meaning:
      'Outcomes of webhook delivery attempts from the outbox. A rising `failure` or `retry` is a receiver down; `refused` is a target the address policy blocks (ADR 0080); a create naming such a target is a 400 and counts nowhere here.',
  },
];

export const metricProviders = METRIC_DEFINITIONS.map((m) => {
  const base = { name: m.name, help: m.help, labelNames: Object.keys(m.labels) };
  if (m.type === 'counter') return makeCounterProvider(base);
  if (m.type === 'gauge') return makeGaugeProvider(base);
  return makeHistogramProvider({ ...base, buckets: m.buckets! });
});
