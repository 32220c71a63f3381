// Gives freed C heap memory back to the system now and then (the addon's mallocTrim: glibc's
// malloc_trim). Node's Buffers live in the C heap and glibc keeps what they freed, so after a
// burst of connections, or an attack, a server's RSS stayed at its peak while its JavaScript
// heap and Buffers were back at their baseline (README "Limits and abuse"). A session that
// ends arms one trim TRIM_INTERVAL later for the whole thread, unless one is armed already;
// the timer never keeps the process alive.
import { native } from '../crypto/native.js';

/** How long (ms) after a session ends the heap is trimmed. */
const TRIM_INTERVAL = 30_000;

let timer: NodeJS.Timeout | undefined;

/** A session ended: its memory may be freed by then. */
export function sessionEnded(): void {
  if (timer) return;
  timer = setTimeout(() => {
    timer = undefined;
    native.mallocTrim();
  }, TRIM_INTERVAL);
  timer.unref();
}
