/** Shared jest settings: ts-jest in transpile-only mode, workspace aliases mapped to sources. */
const path = require('node:path');

module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.base.json') }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    // libs/testing is ES modules (it is shared with the ESM suites) and names siblings as './x.js'.
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^@t2v/contracts$': path.join(__dirname, 'libs/contracts/src/index.ts'),
    '^@t2v/testing/(.*)$': path.join(__dirname, 'libs/testing/src/$1'),
  },
};
