/** Integration suite: the built `t2v` binary against a real API process. */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  displayName: 'cli-integration',
  testMatch: ['<rootDir>/test/**/*.int-spec.ts'],
  testTimeout: 90_000,
};
