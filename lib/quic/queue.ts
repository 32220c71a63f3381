/**
 * FIFO helpers for plain arrays used as queues. V8 keeps an array's capacity when shift()
 * empties it (it trims from the front only); setting the length of an empty array to 0 lets
 * the backing store go, so an idle connection holds no capacity in its queues.
 */

/** The first element, removed; an emptied queue gives its backing store back. */
export function dequeue<T>(queue: T[]): T | undefined {
  const v = queue.shift();
  if (queue.length === 0) queue.length = 0;
  return v;
}
