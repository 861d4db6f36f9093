module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'engine-synthetic',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  testTimeout: 60000,
};
