/** Unit tests, ESM like the SDK they import (`@t2v/sdk` is the built package). */
const path = require('node:path');

module.exports = {
  displayName: 'web',
  rootDir: __dirname,
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: path.join(__dirname, 'tsconfig.unit.json') }],
  },
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
};
