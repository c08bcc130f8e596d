// The browser tests (`npm run e2e`): e2e/*.e2e.ts against a real `concierge serve` with real
// Postgres and Redis (e2e/globalSetup.ts starts it), driving Debian's Chromium. One file at a
// time: they share the server, and the machine has two cores.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    globalSetup: ['e2e/globalSetup.ts'],
    fileParallelism: false,
    // Generous bounds, not expectations: a debug build on a busy two-core machine.
    testTimeout: 90_000,
    hookTimeout: 240_000,
    teardownTimeout: 60_000,
    reporters: ['verbose'],
  },
});
