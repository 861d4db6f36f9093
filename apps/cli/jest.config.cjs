/** ESM tests like the SDK's (docs/adr/0030-sdk-esm-only-package.md); `@t2v/sdk` is the built package. */
const path = require('node:path');

module.exports = {
  displayName: 'cli',
  rootDir: __dirname,
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: path.join(__dirname, 'tsconfig.spec.json') }],
  },
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^@t2v/testing/(.*)$': path.join(__dirname, '../../libs/testing/src/$1'),
  },
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
};
