/**
 * The SDK ships as ESM (see docs/adr/0030-sdk-esm-only-package.md), so its tests run as ESM too:
 * ts-jest emits ES modules and jest loads them with --experimental-vm-modules. got and its
 * ESM-only dependencies then load natively, untransformed, exactly as in an installed package.
 */
const path = require('node:path');

module.exports = {
  displayName: 'sdk',
  rootDir: __dirname,
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: path.join(__dirname, 'tsconfig.spec.json') }],
  },
  // Sources import siblings as './x.js' (NodeNext); under jest they resolve to './x.ts'.
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^@t2v/testing/(.*)$': path.join(__dirname, '../../libs/testing/src/$1'),
  },
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
};
