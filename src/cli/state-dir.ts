/** Where gitfleet keeps state for a user when no --state-dir is given: $XDG_STATE_HOME/gitfleet. */
export function defaultStateDir(): string {
  return process.env.XDG_STATE_HOME
    ? `${process.env.XDG_STATE_HOME}/gitfleet`
    : `${process.env.HOME ?? '/tmp'}/.local/state/gitfleet`;
}
