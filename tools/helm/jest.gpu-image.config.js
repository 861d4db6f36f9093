/** The GPU image's own checks (tools/helm/test/image/*.image-spec.ts): not part of npm test. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'gpu-image',
  rootDir: __dirname,
  testMatch: ['<rootDir>/test/image/**/*.image-spec.ts'],
  testTimeout: 600_000,
};
