// Waiting on a promise that an AbortSignal can cut short.

/** `p`, or a rejection with the signal's reason if it aborts first; `late` gets a value that
 * arrives after the abort (to release it). */
export function abortable<T>(
  p: Promise<T>,
  signal: AbortSignal | undefined,
  late?: (value: T) => void,
): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    if (late) p.then(late, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      if (late) p.then(late, () => {});
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
