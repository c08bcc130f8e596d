// Vite builds the app into dist/ (served by `concierge serve` at `/`); Vitest runs the component
// tests (src/**/*.test.tsx) in jsdom. `npm run dev` proxies the API to a local `concierge serve`
// (CONCIERGE_URL, default http://127.0.0.1:8080) so the dev server and the API share an origin.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

const api = process.env.CONCIERGE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    target: 'es2022',
    sourcemap: false,
    // React 19's DOM renderer alone is about 190 kB minified; the app adds about 80 kB.
    chunkSizeWarningLimit: 300,
  },
  server: {
    proxy: {
      '/graphql': { target: api, ws: true, changeOrigin: true },
      '/app-config.json': { target: api, changeOrigin: true },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
  },
});
