import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';

import { bootstrapError } from './common/bootstrap-error';
import { createLogger, setRootLogger } from './logging/logger';
import { ConfigError, loadConfig, secretValues } from './config/config.schema';
import { createApp } from './bootstrap';
import { DispatchService } from './jobs/dispatch.service';

// Under load every request leaves a few kB that outlive two scavenges; with V8's default dynamic
// growth the old space then swings by ~80 MB between full collections (a sawtooth a memory limit
// in a pod has to absorb). A fixed 1.5× growth factor collects earlier, in small steps: RSS stays
// within a few MB of its working set at the same throughput (ADR 0024). Set before any load.
setFlagsFromString('--heap-growing-percent=50');

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) bootstrapError(err.message);
    throw err;
  }
  const log = createLogger({ level: config.logLevel, secrets: secretValues(config) });
  setRootLogger(log);
  const logger = log.child({ context: 'main' });
  let app;
  try {
    app = await createApp(config, log);
  } catch (err) {
    // A setting only the engine can judge (its model card: a bad profile, an alias of another model).
    if (err instanceof ConfigError) bootstrapError(err.message);
    throw err;
  }
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info(
    `t2v API listening on http://${config.host}:${port} (role ${config.role}, engine ${config.engine}, queue ${config.queue})`,
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting now; running jobs are requeued at the next start`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal}: draining (readiness 503 now)`);
    const dispatch = app.get(DispatchService);
    await dispatch.drain(config.drainDelayS * 1000, config.shutdownGraceS * 1000);
    await app.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // Started by a launcher (`npm start`) with an IPC channel: when the launcher dies, however it
  // dies (SIGKILL included), the channel closes. Drain and exit then, as on SIGTERM, instead of
  // holding the port, the data directory and the workers with nobody left to stop them.
  if (process.channel) {
    process.channel.unref();
    process.on('disconnect', () => void shutdown('launcher gone'));
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`t2v: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
