// QuicError and the RFC 9000 §20 codes.
import { expect } from 'chai';

import { QuicError, TransportError, cryptoError, transportErrorName } from '../lib/quic/errors.js';

describe('quic/errors', () => {
  it('RFC 9000 §20.1 codes and RFC 9001 §4.8 CRYPTO_ERROR', () => {
    expect(TransportError.FRAME_ENCODING_ERROR).to.equal(0x07);
    expect(TransportError.PROTOCOL_VIOLATION).to.equal(0x0a);
    expect(TransportError.NO_VIABLE_PATH).to.equal(0x10);
    expect(cryptoError(40)).to.equal(0x128); // handshake_failure
    expect(transportErrorName(0x128)).to.equal('CRYPTO_ERROR(0x128)');
    expect(transportErrorName(0x08)).to.equal('TRANSPORT_PARAMETER_ERROR');
    expect(transportErrorName(0x4242)).to.equal('0x4242');
  });

  it('transport and application errors', () => {
    const t = new QuicError(0x0a, 'bad frame', { frameType: 0x08 });
    expect(t).to.be.instanceOf(Error);
    expect(t).to.include({ code: 0x0a, application: false, frameType: 0x08, name: 'QuicError' });
    expect(t.message).to.equal('PROTOCOL_VIOLATION: bad frame');
    const a = QuicError.application(0x101, 'H3_GENERAL_PROTOCOL_ERROR');
    expect(a).to.include({ code: 0x101, application: true });
    expect(a.message).to.equal('application error 0x101: H3_GENERAL_PROTOCOL_ERROR');
    expect(QuicError.fromAlert(120, 'no ALPN').code).to.equal(0x178);
  });
});
