// The structure check run by `npm run lint`: reads the imports of every lib/**/*.ts file and
// fails on an import from a higher layer or on any import cycle between files. Type-only
// imports count as well: they are structure too, and a type cycle still ties two files
// together. Layers, low to high; a file may import its own layer and the layers below it:
//
//   log     lib/debug/log.ts                     env-driven logging; imports nothing
//   crypto  lib/crypto/                          the native addon's typed wrappers
//   tls     lib/tls/                             TLS 1.3 for QUIC
//   quic    lib/quic/                            sans-IO QUIC (may import tls and crypto)
//   h3      lib/h3/                              sans-IO HTTP/3 (may import quic and below)
//   net     lib/net/                             sockets, timers, sessions, listen/connect
//   api     lib/index.ts                         the public API (re-exports only)
//   tools   lib/cli/, lib/tools/, bench/         the zquic command, the capture inspector,
//                                                and the benchmarks the command runs
//
// A file in none of these is an error too, so that a new folder gets a place on purpose.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

export interface Layer {
  name: string;
  /** Repository-relative paths: a file, or a folder ending in '/'. */
  paths: readonly string[];
}

export const LAYERS: readonly Layer[] = [
  { name: 'log', paths: ['lib/debug/log.ts'] },
  { name: 'crypto', paths: ['lib/crypto/'] },
  { name: 'tls', paths: ['lib/tls/'] },
  { name: 'quic', paths: ['lib/quic/'] },
  { name: 'h3', paths: ['lib/h3/'] },
  { name: 'net', paths: ['lib/net/'] },
  { name: 'api', paths: ['lib/index.ts'] },
  { name: 'tools', paths: ['lib/cli/', 'lib/tools/', 'bench/'] },
];

/** Each file (repository-relative, '/'-separated) and the files it imports. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/** The index of the layer holding `file` in `layers`, or -1. */
export function layerOf(file: string, layers: readonly Layer[] = LAYERS): number {
  return layers.findIndex((l) =>
    l.paths.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p)),
  );
}

/** The files `source` (the text of `file`) imports: static and dynamic imports, re-exports and
 * type-only imports. Only relative specifiers name files of this repository; a '.js'
 * specifier names the '.ts' file next to it (TypeScript's NodeNext resolution). */
export function importsOf(file: string, source: string): string[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  const out: string[] = [];
  for (const { fileName } of importedFiles) {
    if (!fileName.startsWith('./') && !fileName.startsWith('../')) continue;
    const target = path.posix.join(path.posix.dirname(file), fileName);
    out.push(target.endsWith('.js') ? target.slice(0, -3) + '.ts' : target);
  }
  return out;
}

/** The cycles of `graph`: one file path per strongly connected component of more than one
 * file (or a file importing itself), starting and ending at the same file. */
export function findCycles(graph: ImportGraph): string[][] {
  // Tarjan's strongly connected components, iterating over the files in sorted order so that
  // the report is stable.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      components.push(component);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  const cycles: string[][] = [];
  for (const component of components) {
    const start = component.sort()[0]!;
    if (component.length === 1 && !(graph.get(start) ?? []).includes(start)) continue;
    cycles.push(cycleThrough(graph, start, new Set(component)));
  }
  return cycles;
}

/** A shortest path start -> ... -> start inside one strongly connected component. */
function cycleThrough(graph: ImportGraph, start: string, component: Set<string>): string[] {
  const from = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const route = [v];
        while (route[0] !== start) route.unshift(from.get(route[0]!)!);
        return [...route, start];
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  throw new Error(`no cycle through ${start}`); // unreachable for a strongly connected component
}

/** Every broken rule of `graph`, one line each (empty: the structure is sound). */
export function checkLayers(graph: ImportGraph, layers: readonly Layer[] = LAYERS): string[] {
  const problems: string[] = [];
  const where = (file: string): Layer | undefined => layers[layerOf(file, layers)];
  const unplaced = new Set<string>();
  for (const [file, imports] of [...graph].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const own = layerOf(file, layers);
    if (own < 0) unplaced.add(file);
    for (const target of imports) {
      const theirs = layerOf(target, layers);
      if (theirs < 0) unplaced.add(target);
      else if (own >= 0 && theirs > own)
        problems.push(
          `${file} imports ${target}: layer ${where(file)!.name} may not import the higher layer ${where(target)!.name}`,
        );
    }
  }
  for (const file of [...unplaced].sort())
    problems.push(`${file} is in no layer (give it one in scripts/check-layers.ts)`);
  for (const cycle of findCycles(graph)) problems.push(`import cycle: ${cycle.join(' -> ')}`);
  return problems;
}

/** The import graph of every lib/**\/*.ts file under the repository `root`. */
export function readImportGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = readdirSync(path.join(root, 'lib'), { recursive: true, encoding: 'utf8' })
    .map((f) => path.posix.join('lib', f.split(path.sep).join('/')))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .sort();
  for (const file of files)
    graph.set(file, importsOf(file, readFileSync(path.join(root, file), 'utf8')));
  return graph;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  const graph = readImportGraph(root);
  const problems = checkLayers(graph);
  for (const p of problems) console.error(p);
  if (problems.length > 0) process.exitCode = 1;
  else {
    const imports = [...graph.values()].reduce((n, i) => n + i.length, 0);
    console.log(`layers: ${graph.size} files, ${imports} imports, no upward import, no cycle`);
  }
}
