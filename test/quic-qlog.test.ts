// qlog event helpers (lib/quic/qlog.ts).
import { expect } from 'chai';

import type { PacketType } from '../lib/quic/header.js';
import { qlogPacketType } from '../lib/quic/qlog.js';

describe('quic/qlog', () => {
  it("qlogPacketType: qlog's PacketType names (0RTT and 1RTT upper case)", () => {
    const types: PacketType[] = [
      'initial',
      'handshake',
      '0rtt',
      '1rtt',
      'retry',
      'version_negotiation',
    ];
    expect(types.map(qlogPacketType)).to.deep.equal([
      'initial',
      'handshake',
      '0RTT',
      '1RTT',
      'retry',
      'version_negotiation',
    ]);
  });

  it('qlogPacketType: anything else is a TypeError naming the argument', () => {
    for (const bad of ['1RTT', 'stateless_reset', '', '__proto__', undefined, 1])
      expect(() => qlogPacketType(bad as PacketType)).to.throw(TypeError, /^type must be/);
  });
});
