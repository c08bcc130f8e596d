// Vitest global setup of the browser tests: one fresh Concierge for the whole run (see
// server.ts), its URL handed to the tests as `inject('baseUrl')`, stopped at the end.
// E2E_BASE_URL runs the tests against a server that is already running instead; it must be fresh
// (migrated and seeded with the demo data, nothing else), as the tests count notifications, and
// use the local Redis with the key prefix E2E_REDIS_PREFIX (default `concierge`, the server's
// default), where the tests see when a subscription has reached the server.
import { mkdirSync, rmSync } from 'node:fs';

import type { TestProject } from 'vitest/node';

import { ARTIFACTS, startConcierge } from './server';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
    redisPrefix: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  const external = process.env.E2E_BASE_URL;
  if (external !== undefined && external !== '') {
    project.provide('baseUrl', external.replace(/\/$/, ''));
    project.provide('redisPrefix', process.env.E2E_REDIS_PREFIX ?? 'concierge');
    return () => Promise.resolve();
  }
  const server = await startConcierge();
  project.provide('baseUrl', server.url);
  project.provide('redisPrefix', server.redisPrefix);
  console.log(`e2e: Concierge at ${server.url}; screenshots in ${ARTIFACTS}`);
  return server.stop;
}
