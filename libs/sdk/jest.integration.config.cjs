/** Integration suite: the SDK against a real API process. See test/live-api.ts. */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  displayName: 'sdk-integration',
  testMatch: ['<rootDir>/test/**/*.int-spec.ts'],
  testTimeout: 60_000,
};
