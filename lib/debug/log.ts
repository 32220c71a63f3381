// Environment-driven diagnostics. Each channel is read once at load; a disabled channel costs
// one boolean test, and its message callback is never run. The leaf of the layers: it imports
// nothing, so every layer may log (scripts/check-layers.ts).

export type Channel = 'packets' | 'handshake' | 'timing' | 'memory';
export type Level = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function flag(name: string): boolean {
  const v = process.env[name];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

const channels: Record<Channel, boolean> = {
  packets: flag('ZQUIC_DEBUG_PACKETS'),
  handshake: flag('ZQUIC_DEBUG_HANDSHAKE'),
  timing: flag('ZQUIC_DEBUG_TIMING'),
  memory: flag('ZQUIC_DEBUG_MEMORY'),
};

const envLevel = process.env.ZQUIC_LOG_LEVEL?.toLowerCase();
const threshold = LEVELS[(envLevel ?? 'warn') as Level] ?? LEVELS.warn;

/** Where lines go; tests may replace it to capture output. */
export let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

export function setSink(fn: (line: string) => void): void {
  sink = fn;
}

export function enabled(channel: Channel): boolean {
  return channels[channel];
}

/** Turns a channel on or off at run time (the CLI's --debug flags, tests). */
export function setEnabled(channel: Channel, on: boolean): void {
  channels[channel] = on;
}

/** Logs a line on a debug channel; `message` runs only when the channel is on. */
export function debug(channel: Channel, message: () => string): void {
  if (channels[channel]) sink(`zquic:${channel} ${message()}`);
}

/** Leveled log for operational messages, filtered by ZQUIC_LOG_LEVEL (default warn). */
export function log(level: Level, message: string): void {
  if (LEVELS[level] >= threshold) sink(`zquic ${level}: ${message}`);
}
