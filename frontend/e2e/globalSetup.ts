// Vitest global setup of the browser tests: one fresh Concierge for the whole run (see
// server.ts), its URL handed to the tests as `inject('baseUrl')`, stopped at the end.
import { mkdirSync, rmSync } from 'node:fs';

import type { TestProject } from 'vitest/node';

import { ARTIFACTS, startConcierge } from './server';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = await startConcierge();
  project.provide('baseUrl', server.url);
  console.log(`e2e: Concierge at ${server.url}; screenshots in ${ARTIFACTS}`);
  return server.stop;
}
