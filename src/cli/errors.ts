/** The user asked for something malformed: exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The operation failed for a reason the user can act on: one line on stderr, exit status 1. */
export class CliError extends Error {
  override name = 'CliError';
}
