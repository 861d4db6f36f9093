/**
 * Stands in for Node-only modules the SDK imports for features a page never calls (`got`, the
 * default transport; `node:fs/promises` and `node:path`, for `downloadTo` and uploads from a path). Calling any of them
 * says why instead of failing somewhere inside a bundle.
 */
function unavailable(name: string): never {
  throw new Error(`${name} is not available in the browser build of the playground.`);
}

const got = () => unavailable('got (pass a transport)');
export default got;
export const open = () => unavailable('fs.open');
export const readFile = () => unavailable('fs.readFile (pass a File or Blob)');
export const rename = () => unavailable('fs.rename');
export const unlink = () => unavailable('fs.unlink');
export const basename = () => unavailable('path.basename');
export const dirname = () => unavailable('path.dirname');
export const join = () => unavailable('path.join');
export const resolve = () => unavailable('path.resolve');
