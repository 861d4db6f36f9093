import type { FairPolicy } from '../../jobs/fair-queue';
import { LocalGpuRegistry } from '../../jobs/gpu-registry';
import {
  type DispatchContext,
  deferred,
  type JobDispatcher,
  type JobTransport,
  type QueueDriver,
} from '../../jobs/queue-driver';
import { EmbeddedDispatcher } from './embedded-dispatcher';
import { SqliteJobStore } from './sqlite-job-store';

/** One process, one SQLite file: nobody else to tell about changes or cancels. */
const LOCAL_ONLY: JobTransport = {
  publish: () => undefined,
  cancel: () => undefined,
  onJob: () => undefined,
  onCancel: () => undefined,
};

/** The embedded queue driver (`T2V_QUEUE=embedded`): a SQLite file and an in-process pump. */
export class EmbeddedDriver implements QueueDriver {
  readonly name = 'embedded';
  readonly store: SqliteJobStore;
  readonly transport = LOCAL_ONLY;
  readonly registry = new LocalGpuRegistry();
  readonly sharedOutputs = false;

  constructor(file: string, maxQueue: number, policy?: FairPolicy) {
    this.store = new SqliteJobStore(file, maxQueue, policy);
  }

  throttlerStorage(): undefined {
    return undefined;
  }

  createDispatcher(context: DispatchContext): JobDispatcher {
    return new EmbeddedDispatcher(this.store, context);
  }

  private readonly opened = deferred();

  async open(): Promise<void> {
    await this.store.open();
    this.opened.resolve();
  }

  whenOpen(): Promise<void> {
    return this.opened.promise;
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
