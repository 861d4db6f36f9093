import type { AppConfig } from './config.schema';

/** Injection token for the validated configuration (read once in main.ts). */
export const APP_CONFIG = Symbol('APP_CONFIG');
export type { AppConfig };
