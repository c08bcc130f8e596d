// One message of a conversation. The user's own on the right; the agent's on the left with, under
// it, the actions it took (chips with status and, when rejected, the reason), the knowledge it
// answered from (sources), and which provider answered.
import { useSignedIn } from '../app/context';
import type { MessageFieldsFragment } from '../gql/graphql';
import { formatClock, formatFull } from '../ui/time';
import { describeAction, statusLabel } from './action';
import type { ChatMessage } from './conversation';

function Sources({ sources }: { sources: MessageFieldsFragment['sources'] }) {
  if (sources.length === 0) return null;
  return (
    <div className="sources">
      <span className="sources-label">Sources</span>
      <ul aria-label="Sources">
        {sources.map((source) => (
          <li key={source.knowledgeId} className="source" title={`Relevance ${Math.round(source.score * 100)}%`}>
            <span className="source-title">{source.title ?? 'Untitled note'}</span>
            <span className="source-category">{source.category}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

function Actions({ actions }: { actions: MessageFieldsFragment['actions'] }) {
  const { people } = useSignedIn();
  if (actions.length === 0) return null;
  return (
    <ul className="actions" aria-label="Actions">
      {actions.map((action) => {
        const view = describeAction(action, people);
        return (
          <li key={action.id} className={`chip chip-${view.status.toLowerCase()}`} data-testid="action-chip">
            <span className="chip-main">
              <span className="chip-icon" aria-hidden="true">
                {view.status === 'EXECUTED' ? '✓' : view.status === 'REJECTED' ? '⊘' : '!'}
              </span>
              <span className="chip-label">{view.label}</span>
              {view.priority && <span className={`priority priority-${view.priority.toLowerCase()}`}>{view.priority.toLowerCase()}</span>}
              <span className="chip-status">{statusLabel(view.status)}</span>
            </span>
            {view.detail && <span className="chip-detail">“{view.detail}”</span>}
            {view.reason && view.status !== 'EXECUTED' && <span className="chip-reason">{view.reason}</span>}
          </li>
        );
      })}
    </ul>
  );
}

interface Props {
  message: ChatMessage;
  onRetry?: (message: ChatMessage) => void;
}

/** One message bubble (and what goes under it). */
export function MessageBubble({ message, onRetry }: Props) {
  const mine = message.role === 'USER';
  const time = message.outgoing?.state === 'sending' ? 'Sending…' : formatClock(message.createdAt);
  return (
    <li className={mine ? 'message message-user' : 'message message-agent'} data-testid={mine ? 'user-message' : 'agent-message'}>
      <span className="visually-hidden">{mine ? 'You said:' : 'Concierge said:'}</span>
      <div className="bubble">{message.content}</div>
      {!mine && (
        <>
          <Actions actions={message.actions} />
          <Sources sources={message.sources} />
        </>
      )}
      <div className="meta">
        <time dateTime={message.createdAt} title={formatFull(message.createdAt)}>
          {time}
        </time>
        {!mine && message.provider && <span className="provider"> · answered by {message.provider}</span>}
      </div>
      {mine && message.outgoing?.state === 'unsent' && (
        <div className="message-error" role="alert">
          Not sent: {message.outgoing.sendError ?? 'the message could not be sent.'}{' '}
          {onRetry && (
            <button type="button" className="link-button" onClick={() => onRetry(message)}>
              Retry
            </button>
          )}
        </div>
      )}
      {mine && message.status === 'FAILED' && (
        <div className="message-error" role="alert">
          No answer: {message.error ?? 'the agent could not answer this message.'}
        </div>
      )}
    </li>
  );
}
