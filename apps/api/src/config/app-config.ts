import type { AppConfig } from './config.schema';

/** Injection token for the validated configuration (read once in main.ts). */
export const APP_CONFIG = Symbol('APP_CONFIG');
export type { AppConfig };

/** The embedded driver's job store, in `T2V_DATA_DIR` (also read by the backup and restore commands). */
export const EMBEDDED_STORE_FILE = 'jobs.sqlite';
