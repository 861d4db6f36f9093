/** Packaging suite: npm pack, install into a scratch project, run consumers against a live API. */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  displayName: 'sdk-pack',
  testMatch: ['<rootDir>/test/**/*.pack-spec.ts'],
  testTimeout: 120_000,
};
