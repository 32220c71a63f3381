// The structure check of `npm run lint` (scripts/check-layers.ts), on small synthetic graphs.
import { expect } from 'chai';

import {
  LAYERS,
  checkLayers,
  findCycles,
  importsOf,
  layerOf,
  type ImportGraph,
} from '../scripts/check-layers.js';

const graph = (edges: Record<string, string[]>): ImportGraph => new Map(Object.entries(edges));

describe('scripts/check-layers', () => {
  it('reads every kind of import, type-only ones included, as repository paths', () => {
    const source = [
      "import { readFileSync } from 'node:fs';",
      "import ts from 'typescript';",
      "import type { Frame } from './frames.js';",
      'import {',
      '  QUIC_V1,',
      '  QUIC_V2,',
      "} from '../crypto/packet.js';",
      "export { debug } from '../debug/log.js';",
      "export type { Role } from './transport-params.js';",
      "const m = await import('./recovery/index.js');",
      "// import { x } from './commented-out.js';",
      'const s = "import { y } from \'./in-a-string.js\'";',
    ].join('\n');
    expect(importsOf('lib/quic/packet-log.ts', source)).to.deep.equal([
      'lib/quic/frames.ts',
      'lib/crypto/packet.ts',
      'lib/debug/log.ts',
      'lib/quic/transport-params.ts',
      'lib/quic/recovery/index.ts',
    ]);
  });

  it('places files in the layer table, low to high', () => {
    const names = (files: string[]) => files.map((f) => LAYERS[layerOf(f)]?.name);
    expect(
      names([
        'lib/debug/log.ts',
        'lib/crypto/packet.ts',
        'lib/tls/engine.ts',
        'lib/quic/recovery/cubic.ts',
        'lib/h3/qpack/huffman.ts',
        'lib/net/http3.ts',
        'lib/index.ts',
        'lib/cli/main.ts',
        'lib/tools/inspect.ts',
        'bench/crypto.ts',
      ]),
    ).to.deep.equal([
      'log',
      'crypto',
      'tls',
      'quic',
      'h3',
      'net',
      'api',
      'tools',
      'tools',
      'tools',
    ]);
    expect(layerOf('lib/debug/packets.ts')).to.equal(-1);
    expect(layerOf('lib/indexes.ts')).to.equal(-1);
  });

  it('accepts imports of the same layer and of any lower one', () => {
    expect(
      checkLayers(
        graph({
          'lib/index.ts': ['lib/net/listen.ts', 'lib/h3/hq.ts', 'lib/crypto/groups.ts'],
          'lib/net/listen.ts': ['lib/net/options.ts', 'lib/tls/server.ts'],
          'lib/net/options.ts': [],
          'lib/h3/hq.ts': [],
          'lib/tls/server.ts': ['lib/crypto/groups.ts', 'lib/debug/log.ts'],
          'lib/crypto/groups.ts': [],
          'lib/debug/log.ts': [],
          'lib/cli/main.ts': ['lib/index.ts', 'lib/tools/pcap.ts', 'bench/crypto.ts'],
          'lib/tools/pcap.ts': [],
        }),
      ),
    ).to.deep.equal([]);
  });

  it('catches the index <-> net/http3 cycle and its upward import', () => {
    expect(
      checkLayers(
        graph({
          'lib/index.ts': ['lib/net/http3.ts', 'lib/net/endpoint.ts'],
          'lib/net/http3.ts': ['lib/index.ts', 'lib/net/endpoint.ts'],
          'lib/net/endpoint.ts': [],
        }),
      ),
    ).to.deep.equal([
      'lib/net/http3.ts imports lib/index.ts: layer net may not import the higher layer api',
      'import cycle: lib/index.ts -> lib/net/http3.ts -> lib/index.ts',
    ]);
  });

  it('catches a logger that imports a protocol layer, and files in no layer', () => {
    expect(
      checkLayers(
        graph({
          'lib/debug/log.ts': ['lib/quic/frames.ts'],
          'lib/quic/frames.ts': ['lib/debug/packets.ts'],
          'lib/debug/packets.ts': [],
        }),
      ),
    ).to.deep.equal([
      'lib/debug/log.ts imports lib/quic/frames.ts: layer log may not import the higher layer quic',
      'lib/debug/packets.ts is in no layer (give it one in scripts/check-layers.ts)',
    ]);
  });

  it('finds cycles inside one layer, self-imports, and one path per cycle', () => {
    expect(
      findCycles(
        graph({
          'lib/quic/a.ts': ['lib/quic/b.ts'],
          'lib/quic/b.ts': ['lib/quic/c.ts', 'lib/quic/d.ts'],
          'lib/quic/c.ts': ['lib/quic/a.ts'],
          'lib/quic/d.ts': ['lib/quic/b.ts'],
          'lib/quic/e.ts': ['lib/quic/e.ts'],
          'lib/quic/f.ts': ['lib/quic/a.ts'],
        }),
      ),
    ).to.have.deep.members([
      ['lib/quic/a.ts', 'lib/quic/b.ts', 'lib/quic/c.ts', 'lib/quic/a.ts'],
      ['lib/quic/e.ts', 'lib/quic/e.ts'],
    ]);
    expect(findCycles(graph({ 'lib/quic/a.ts': ['lib/quic/b.ts'], 'lib/quic/b.ts': [] }))).to.be
      .empty;
  });
});
