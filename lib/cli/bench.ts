// `zquic bench crypto [--json] [--duration ms]`: runs a benchmark from bench/.
export async function run(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  const json = rest.includes('--json');
  const i = rest.indexOf('--duration');
  const durationMs = i >= 0 ? Number(rest[i + 1]) : undefined;
  if (what !== 'crypto' || (durationMs !== undefined && !(durationMs > 0))) {
    console.error('usage: zquic bench crypto [--json] [--duration ms]');
    return 2;
  }
  const { runCryptoBench, table } = await import('../../bench/crypto.js');
  const figures = await runCryptoBench({
    durationMs,
    onFigure: (f) => {
      if (json) console.log(JSON.stringify({ bench: 'crypto', ...f }));
    },
  });
  if (!json) console.log(table(figures));
  return 0;
}
