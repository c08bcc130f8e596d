import { describe, expect, test } from 'vitest';

import { backoffDelay } from './backoff';

describe('reconnect backoff', () => {
  test('doubles from half a second and stops growing at fifteen seconds', () => {
    const top = (n: number) => backoffDelay(n, () => 1);
    expect([0, 1, 2, 3].map(top)).toEqual([500, 1000, 2000, 4000]);
    expect(top(10)).toBe(15_000);
    expect(top(1000)).toBe(15_000);
  });

  test('jitter stays in the upper half of the window', () => {
    expect(backoffDelay(3, () => 0)).toBe(2000);
    expect(backoffDelay(3, () => 0.5)).toBe(3000);
  });
});
