module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'helm-tools',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  // helm and promtool are real processes; rendering a chart takes a few hundred ms each.
  testTimeout: 60000,
};
