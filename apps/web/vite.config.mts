import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const unavailable = here('./src/sdk/node-shims/unavailable.ts');

/**
 * The playground's build. `@t2v/sdk` is a Node.js package: its default transport is got and it
 * imports `node:crypto`, `node:fs/promises` and `node:path`. The page passes its own fetch
 * transport, so those imports are pointed at small browser stand-ins here (docs/adr/0051).
 */
export default defineConfig({
  root: here('.'),
  base: '/',
  publicDir: here('./public'),
  resolve: {
    alias: [
      { find: /^got$/, replacement: unavailable },
      { find: /^node:crypto$/, replacement: here('./src/sdk/node-shims/crypto.ts') },
      { find: /^node:fs\/promises$/, replacement: unavailable },
      { find: /^node:path$/, replacement: unavailable },
    ],
  },
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // Everything ships inside the image; a few kB of inline assets would only complicate the CSP.
    assetsInlineLimit: 0,
  },
  server: {
    // `npx vite apps/web` during development, with an API on :8080.
    proxy: { '/v1': 'http://127.0.0.1:8080', '/docs': 'http://127.0.0.1:8080' },
  },
});
