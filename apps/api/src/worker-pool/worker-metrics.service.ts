import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';

import { METRIC } from '../metrics/metrics';
import { WorkerPoolService } from './worker-pool.service';
import { WORKER_STATES, type WorkerSupervisor } from './worker-supervisor';

/**
 * Mirrors the worker pool into Prometheus: state per worker, restarts, load time, GPU memory, and
 * once per process the time from its start to its first worker ready (a GPU pod's cold start).
 */
@Injectable()
export class WorkerMetricsService implements OnModuleInit {
  constructor(
    private readonly pool: WorkerPoolService,
    @InjectMetric(METRIC.workerState) private readonly state: Gauge<string>,
    @InjectMetric(METRIC.workerRestarts) private readonly restarts: Counter<string>,
    @InjectMetric(METRIC.modelLoad) private readonly modelLoad: Gauge<string>,
    @InjectMetric(METRIC.gpuReady) private readonly gpuReady: Histogram<string>,
    @InjectMetric(METRIC.gpuMemoryUsed) private readonly gpuUsed: Gauge<string>,
    @InjectMetric(METRIC.gpuMemoryTotal) private readonly gpuTotal: Gauge<string>,
  ) {}

  onModuleInit(): void {
    let firstReady = true;
    this.pool.on('state', (w: WorkerSupervisor) => {
      for (const s of WORKER_STATES) this.state.set({ worker: w.spec.id, state: s }, w.state === s ? 1 : 0);
      if (w.state === 'READY' && w.ready) {
        this.modelLoad.set({ worker: w.spec.id }, w.ready.load_s);
        if (firstReady) this.gpuReady.observe(process.uptime());
        firstReady = false;
      }
    });
    this.pool.on('restart', (w: WorkerSupervisor) => this.restarts.inc({ worker: w.spec.id }));
    this.pool.on('heartbeat', (w: WorkerSupervisor) => {
      const hb = w.heartbeat;
      if (hb?.gpu_mem_bytes != null) this.gpuUsed.set({ device: w.spec.device }, hb.gpu_mem_bytes);
      if (hb?.gpu_mem_total_bytes != null)
        this.gpuTotal.set({ device: w.spec.device }, hb.gpu_mem_total_bytes);
    });
  }
}
