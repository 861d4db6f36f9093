export * from './errors';
export * from './job';
export * from './profile';
export * from './protocol';
