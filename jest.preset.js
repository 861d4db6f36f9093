/** Shared jest settings: ts-jest in transpile-only mode, workspace aliases mapped to sources. */
const path = require('node:path');

module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.base.json') }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^@t2v/contracts$': path.join(__dirname, 'libs/contracts/src/index.ts'),
    '^@t2v/testing/(.*)$': path.join(__dirname, 'libs/testing/src/$1'),
  },
};
