// Reconnect timing: exponential backoff with jitter, so that a restarted server is not hit by
// every client at the same instant, and a waiting client tries again at once when the browser
// says it is back online.

/** First retry after about this long. */
const BASE_MS = 500;
/** Never wait longer than this between attempts: a person is looking at an "offline" banner. */
const MAX_MS = 15_000;

/**
 * How long to wait before reconnect attempt `retries` (0 for the first retry): doubles from
 * BASE_MS up to MAX_MS, then a random point in the upper half of that window.
 */
export function backoffDelay(retries: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_MS, BASE_MS * 2 ** Math.max(0, retries));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** Resolves after `backoffDelay(retries)`, or earlier when the browser comes back online. */
export function waitBeforeRetry(retries: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener('online', done);
      resolve();
    };
    const timer = setTimeout(done, backoffDelay(retries));
    window.addEventListener('online', done);
  });
}
