// How an agent's action reads under its reply: who was notified (named from the tenant's people),
// which role, which event was logged, with its status and, when it was not carried out, why.
import type { ActionStatus, MessageFieldsFragment, UserFieldsFragment } from '../gql/graphql';

/** One action record of an assistant message. */
export type ActionRecord = MessageFieldsFragment['actions'][number];

/** What a chip shows. */
export interface ActionView {
  /** "Notified Luca Bianchi", "Not sent to all waiters", "Logged freezer_temperature". */
  label: string;
  /** The notification's text or the event's details, if any. */
  detail: string | null;
  /** Priority when it matters (HIGH, URGENT). */
  priority: 'HIGH' | 'URGENT' | null;
  status: ActionStatus;
  /** Why it was rejected or failed. */
  reason: string | null;
}

function param(params: unknown, key: string): string | null {
  if (typeof params !== 'object' || params === null) return null;
  const value = (params as Record<string, unknown>)[key];
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

/** Words for an action's status. */
export function statusLabel(status: ActionStatus): string {
  switch (status) {
    case 'EXECUTED':
      return 'Done';
    case 'REJECTED':
      return 'Rejected';
    case 'FAILED':
      return 'Failed';
  }
}

/** The chip for `action`, naming users from `people` (the tenant's users by id). */
export function describeAction(
  action: ActionRecord,
  people: ReadonlyMap<string, UserFieldsFragment>,
): ActionView {
  const done = action.status === 'EXECUTED';
  const rawPriority = param(action.params, 'priority')?.toUpperCase() ?? null;
  const priority = rawPriority === 'HIGH' || rawPriority === 'URGENT' ? rawPriority : null;
  const base: Pick<ActionView, 'status' | 'reason' | 'priority'> = {
    status: action.status,
    reason: action.error,
    priority,
  };
  switch (action.type) {
    case 'notify_user': {
      const id = param(action.params, 'user_id');
      const who = (id !== null ? people.get(id)?.name : undefined) ?? 'a colleague';
      return {
        ...base,
        label: done ? `Notified ${who}` : `Not sent to ${who}`,
        detail: param(action.params, 'message'),
      };
    }
    case 'notify_role': {
      const target = param(action.params, 'title') ?? param(action.params, 'role');
      const who = target === null ? 'everyone' : `every ${target.toLowerCase()}`;
      return {
        ...base,
        label: done ? `Notified ${who}` : `Not sent to ${who}`,
        detail: param(action.params, 'message'),
      };
    }
    case 'log_event': {
      const kind = param(action.params, 'kind') ?? 'an event';
      return {
        ...base,
        label: done ? `Logged ${kind}` : `Not logged: ${kind}`,
        detail: param(action.params, 'details'),
      };
    }
    default:
      return { ...base, label: action.type.replace(/_/g, ' '), detail: null };
  }
}
