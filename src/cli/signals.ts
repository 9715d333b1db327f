/** Resolve with the first SIGINT or SIGTERM (long-running commands shut down cleanly on either). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return untilSignalOrFatal(new Promise<never>(() => {})).then((r) => r.signal as NodeJS.Signals);
}

/**
 * Resolve with the first SIGINT or SIGTERM, or with the error a component's `fatal` promise
 * resolves with (a permanent failure: the command stops and exits 1 saying why), or with what
 * `orElse` resolves with (e.g. `up --once` converged). Whichever comes first, nothing is left
 * listening or holding the event loop, so the command can end.
 */
export function untilSignalOrFatal<T = never>(
  fatal: Promise<Error>,
  orElse?: Promise<T>,
): Promise<{ signal?: NodeJS.Signals; fatal?: Error; other?: T }> {
  return new Promise((resolve) => {
    // Components' retry timers are unref'd: while etcd is down nothing else may hold the event
    // loop, and the command must keep waiting for etcd (or a signal) rather than fall off the end.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const done = (r: { signal?: NodeJS.Signals; fatal?: Error; other?: T }) => {
      clearInterval(keepAlive);
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(r);
    };
    const on = (signal: NodeJS.Signals) => done({ signal });
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    void fatal.then((e) => done({ fatal: e }));
    void orElse?.then((other) => done({ other }));
  });
}

/** A promise of the first fatal error, and the callback that reports it (give it as onFatal). */
export function fatalSignal(): { fatal: Promise<Error>; onFatal: (e: Error) => void } {
  let onFatal!: (e: Error) => void;
  const fatal = new Promise<Error>((resolve) => (onFatal = resolve));
  return { fatal, onFatal };
}
