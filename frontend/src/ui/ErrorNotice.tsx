// An error from the API, as people should see it: the API's own message (never a stack), and a
// way to try again when that makes sense.
import type { ApiError } from '../api/errors';

/** Shows `error` in an alert region; `onRetry` adds a "Try again" button. */
export function ErrorNotice({ error, onRetry }: { error: ApiError; onRetry?: () => void }) {
  return (
    <div className="notice notice-error" role="alert">
      <span>{error.message}</span>
      {onRetry && (
        <button type="button" className="link-button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
