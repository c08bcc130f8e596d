// Errors the app shows to people. The API's error codes (contract.graphql) plus NETWORK for "the
// server could not be reached"; every error carries a message that is safe to show as it is.

/** `extensions.code` values the API documents, and NETWORK for an unreachable server. */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  | 'NETWORK';

const KNOWN_CODES: readonly ErrorCode[] = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'INTERNAL',
  'NETWORK',
];

/** An error from the API (or from reaching it), with a message meant for people. */
export class ApiError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }
}

/** What the user sees when the server cannot be reached at all. */
export const NETWORK_MESSAGE = 'Concierge cannot be reached. Check your connection and try again.';

/** What the user sees when their token was refused. */
export const EXPIRED_MESSAGE = 'Your session has expired. Please sign in again.';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Turns one GraphQL error object (`{message, extensions: {code}}`) into an [`ApiError`]. */
export function fromGraphQLError(error: unknown): ApiError {
  if (!isRecord(error)) return new ApiError('INTERNAL', 'The server sent an error it did not explain.');
  const message =
    typeof error.message === 'string' && error.message.trim() !== ''
      ? error.message
      : 'Something went wrong on the server.';
  const extensions = isRecord(error.extensions) ? error.extensions : {};
  const raw = extensions.code;
  const code = KNOWN_CODES.find((c) => c === raw) ?? 'INTERNAL';
  return new ApiError(code, message);
}

/** Any thrown value as an [`ApiError`] (unknown values become INTERNAL with a generic message). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError('INTERNAL', 'Something went wrong. Please try again.');
}
