import { describe, expect, test } from 'vitest';

import { LUCA } from '../test/fixtures';
import { describeAction } from './action';

const people = new Map([[LUCA.id, LUCA]]);

describe('action chips', () => {
  test('an executed notify_user names the colleague and carries the message', () => {
    const view = describeAction(
      {
        id: 'a',
        type: 'notify_user',
        status: 'EXECUTED',
        params: { user_id: LUCA.id, message: 'Table 5 has a nut allergy', priority: 'HIGH' },
        error: null,
      },
      people,
    );
    expect(view).toEqual({
      label: 'Notified Luca Bianchi',
      detail: 'Table 5 has a nut allergy',
      priority: 'HIGH',
      status: 'EXECUTED',
      reason: null,
    });
  });

  test('a rejected action says who it was for and why', () => {
    const view = describeAction(
      { id: 'a', type: 'notify_user', status: 'REJECTED', params: { user_id: 'u-elsewhere', message: 'x' }, error: 'not a user of this tenant' },
      people,
    );
    expect(view.label).toBe('Not sent to a colleague');
    expect(view.reason).toBe('not a user of this tenant');
  });

  test('role notifications, events and unknown types read as words', () => {
    expect(describeAction({ id: 'a', type: 'notify_role', status: 'EXECUTED', params: { title: 'Waiter', message: 'm' }, error: null }, people).label).toBe(
      'Notified every waiter',
    );
    expect(
      describeAction({ id: 'a', type: 'log_event', status: 'EXECUTED', params: { kind: 'freezer_temperature', details: '5 degrees' }, error: null }, people),
    ).toMatchObject({ label: 'Logged freezer_temperature', detail: '5 degrees', priority: null });
    expect(describeAction({ id: 'a', type: 'order_stock', status: 'FAILED', params: null, error: 'boom' }, people).label).toBe('order stock');
  });
});
