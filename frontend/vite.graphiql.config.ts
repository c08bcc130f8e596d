// The GraphiQL page (graphiql.html, src/graphiql/): GraphiQL and its editors bundled from npm into
// dist/graphiql.html and dist/assets/graphiql/, so `concierge serve` serves every script and
// stylesheet of /graphiql itself (nothing from a CDN: machines without internet get a working
// page). Its own build, run after the app's (vite.config.ts) into the same dist/ without emptying
// it, so the app's bundle stays exactly what it was. It uses the app's React 19 (graphiql 4
// accepts React 18 or 19).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  build: {
    target: 'es2022',
    sourcemap: false,
    outDir: 'dist',
    emptyOutDir: false,
    assetsDir: 'assets/graphiql',
    // GraphiQL, graphql-js, its UI kit and React are about 830 kB minified in one chunk loaded
    // only by /graphiql; CodeMirror and its add-ons are separate chunks GraphiQL loads itself.
    chunkSizeWarningLimit: 1000,
    rolldownOptions: {
      input: 'graphiql.html',
      onLog(level, log, handler) {
        // react-compiler-runtime (used by GraphiQL) opens with "use no memo", a hint for the
        // React compiler that bundling drops; that is harmless, so it is not reported.
        if (log.code === 'MODULE_LEVEL_DIRECTIVE' && log.id?.includes('react-compiler-runtime')) return;
        handler(level, log);
      },
    },
  },
});
