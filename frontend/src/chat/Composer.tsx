// The message box: Enter sends, Shift+Enter starts a new line (and Enter while an input method is
// composing does neither). Grows with its text up to a few lines; the API's 8000-character limit
// is shown as it comes close.
import { useEffect, useRef, useState, type KeyboardEvent, type SubmitEvent } from 'react';

/** The API accepts 1..8000 characters after trimming (SendMessageInput.content). */
export const MAX_MESSAGE_CHARS = 8000;
/** Show the remaining characters once fewer than this many are left. */
const COUNTER_FROM = 500;

interface Props {
  onSend: (content: string) => void;
  /** Focus the box when it appears. */
  autoFocus?: boolean;
  placeholder?: string;
}

/** The message box with its send button. */
export function Composer({ onSend, autoFocus = false, placeholder = 'Ask Concierge…' }: Props) {
  const [text, setText] = useState('');
  const ref = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (autoFocus) ref.current?.focus();
  }, [autoFocus]);

  useEffect(() => {
    const box = ref.current;
    if (box === null) return;
    box.style.height = 'auto';
    box.style.height = `${Math.min(box.scrollHeight, 160)}px`;
  }, [text]);

  const trimmed = text.trim();
  const tooLong = trimmed.length > MAX_MESSAGE_CHARS;
  const canSend = trimmed !== '' && !tooLong;

  const send = () => {
    if (!canSend) return;
    onSend(trimmed);
    setText('');
    ref.current?.focus();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      send();
    }
  };

  const onSubmit = (event: SubmitEvent<HTMLFormElement>) => {
    event.preventDefault();
    send();
  };

  const left = MAX_MESSAGE_CHARS - trimmed.length;

  return (
    <form className="composer" onSubmit={onSubmit} aria-label="Send a message">
      <label htmlFor="composer-input" className="visually-hidden">
        Message
      </label>
      <textarea
        id="composer-input"
        ref={ref}
        rows={1}
        value={text}
        placeholder={placeholder}
        aria-describedby="composer-hint"
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
      />
      <span id="composer-hint" className="visually-hidden">
        Enter sends, Shift+Enter adds a new line.
      </span>
      {left < COUNTER_FROM && (
        <span className={tooLong ? 'counter counter-over' : 'counter'} aria-live="polite">
          {left}
        </span>
      )}
      <button type="submit" className="send" disabled={!canSend} aria-label="Send">
        <svg viewBox="0 0 24 24" aria-hidden="true" width="20" height="20">
          <path d="M3 20l18-8L3 4v6l12 2-12 2z" fill="currentColor" />
        </svg>
      </button>
    </form>
  );
}
