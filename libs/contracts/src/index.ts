export * from './card';
export * from './errors';
export * from './job';
export * from './protocol';
