// ZQUIC_BENCH_GC=1: the process's garbage collection total on exit, for bench/ngtcp2.ts. One
// JSON line on stderr, {"event":"gc","ms":N,"count":N}; without the variable nothing is observed.
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

export function reportGcOnExit(): void {
  let ms = 0;
  let count = 0;
  const add = (entries: PerformanceEntry[]) => {
    for (const e of entries) {
      ms += e.duration;
      count++;
    }
  };
  const observer = new PerformanceObserver((list) => add(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  process.once('exit', () => {
    // Entries are delivered asynchronously: the ones not yet delivered are still queued.
    add(observer.takeRecords());
    observer.disconnect();
    process.stderr.write(
      `${JSON.stringify({ event: 'gc', ms: Math.round(ms * 1000) / 1000, count })}\n`,
    );
  });
}
