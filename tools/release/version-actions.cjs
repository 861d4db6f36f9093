'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- loaded by `nx release version` with require */
/**
 * `nx release version` for the JS packages, plus the version constants compiled into them: the
 * SDK's User-Agent (`libs/sdk/src/version.ts`) and `t2v --version` (`apps/cli/src/program.ts`).
 * They change in the same tree as package.json, so the release commit and the published builds
 * agree. A constant that is not found fails the release instead of shipping a stale version.
 */
const jsActions = require('@nx/js/src/release/version-actions');

const JsVersionActions = jsActions.default;

/** Project root → files holding `const VERSION = '…'` (exported or not). */
const VERSION_CONSTANTS = {
  'libs/sdk': ['src/version.ts'],
  'apps/cli': ['src/program.ts'],
};
const CONSTANT = /(const VERSION = ')[^']*(';)/;

class T2vVersionActions extends JsVersionActions {
  async updateProjectVersion(tree, newVersion) {
    const logs = await super.updateProjectVersion(tree, newVersion);
    const root = this.projectGraphNode.data.root;
    for (const file of VERSION_CONSTANTS[root] ?? []) {
      const path = `${root}/${file}`;
      const source = tree.read(path, 'utf-8');
      if (!source || !CONSTANT.test(source)) throw new Error(`${path}: no "const VERSION = '…';" to update`);
      tree.write(path, source.replace(CONSTANT, `$1${newVersion}$2`));
      logs.push(`✍️  New version ${newVersion} written to ${path}`);
    }
    return logs;
  }
}

module.exports = T2vVersionActions;
module.exports.default = T2vVersionActions;
module.exports.afterAllProjectsVersioned = jsActions.afterAllProjectsVersioned;
