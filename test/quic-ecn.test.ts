// ECN on our sends (RFC 9000 §13.4.2): the validator's state machine, and two connections over
// a simulated path that keeps, erases or CE-marks the codepoints.
import { expect } from 'chai';

import { ECT0, EcnValidator, TESTING_PACKETS } from '../lib/quic/ecn.js';
import { clientConfig, Link, serverConfig, upload } from './support/link.js';

const App = 2;
const CE = 3;

/** Sends `n` packets in one send call in `space`; returns how many were marked. */
function send(v: EcnValidator, n: number, space = App): number {
  v.startSend();
  let marked = 0;
  for (let i = 0; i < n; i++) if (v.onSent(space)) marked++;
  return marked;
}

describe('ECN validation (RFC 9000 §13.4.2)', () => {
  it('marks the first packets, pauses, and marks everything once the counts check out', () => {
    const v = new EcnValidator(true);
    expect(send(v, TESTING_PACKETS)).to.equal(TESTING_PACKETS);
    expect(v.codepoint).to.equal(ECT0);
    expect(send(v, 5)).to.equal(0); // 'unknown': no marks until an ACK settles it
    expect(v.state).to.equal('unknown');
    expect(v.onAck(App, 9, TESTING_PACKETS, { ect0: TESTING_PACKETS, ect1: 0, ce: 0 })).to.equal(0);
    expect(v.state).to.equal('capable');
    expect(send(v, 3)).to.equal(3);
  });

  it('keeps one codepoint for a whole send call', () => {
    const v = new EcnValidator(true);
    expect(send(v, TESTING_PACKETS + 5)).to.equal(TESTING_PACKETS + 5);
    expect(v.state).to.equal('testing');
    expect(v.startSend()).to.equal(0);
    expect(v.state).to.equal('unknown');
  });

  it('fails when marked packets are acknowledged without counts', () => {
    const v = new EcnValidator(true);
    send(v, 4);
    v.onAck(App, 3, 4, undefined);
    expect(v.state).to.equal('failed');
    expect(send(v, 2)).to.equal(0);
  });

  it('fails on lost marks, ECT(1) we never sent, more marks than sent, decreasing counts', () => {
    const cases = [
      { ect0: 2, ect1: 0, ce: 0 }, // 4 marked packets acknowledged, 2 marks counted
      { ect0: 4, ect1: 1, ce: 0 },
      { ect0: 9, ect1: 0, ce: 0 },
    ];
    for (const counts of cases) {
      const v = new EcnValidator(true);
      send(v, 4);
      v.onAck(App, 3, 4, counts);
      expect(v.state, JSON.stringify(counts)).to.equal('failed');
    }
    const v = new EcnValidator(true);
    send(v, 4);
    v.onAck(App, 1, 2, { ect0: 2, ect1: 0, ce: 0 });
    v.onAck(App, 3, 2, { ect0: 1, ect1: 0, ce: 0 });
    expect(v.state).to.equal('failed');
  });

  it('ignores an ACK that does not raise the largest acknowledged (reordered, older counts)', () => {
    const v = new EcnValidator(true);
    send(v, 4);
    v.onAck(App, 3, 4, { ect0: 4, ect1: 0, ce: 0 });
    v.onAck(App, 1, 0, { ect0: 1, ect1: 0, ce: 0 });
    expect(v.state).to.equal('capable');
  });

  it('reports a validated CE increase once, per space', () => {
    const v = new EcnValidator(true);
    send(v, 4);
    expect(v.onAck(App, 1, 2, { ect0: 1, ect1: 0, ce: 1 })).to.equal(1);
    expect(v.onAck(App, 3, 2, { ect0: 3, ect1: 0, ce: 1 })).to.equal(0);
    send(v, 2, 0);
    expect(v.onAck(0, 1, 2, { ect0: 0, ect1: 0, ce: 2 })).to.equal(2);
    expect(v.state).to.equal('capable');
  });

  it('fails when every testing packet is lost, and tests a new path again', () => {
    const v = new EcnValidator(true);
    send(v, TESTING_PACKETS);
    for (let i = 0; i < TESTING_PACKETS; i++) v.onMarkedLost();
    expect(v.state).to.equal('failed');
    v.onNewPath(true);
    expect(v.state).to.equal('testing');
    expect(send(v, 1)).to.equal(1);
  });

  it('marks nothing when the socket cannot', () => {
    const v = new EcnValidator(false);
    expect(v.state).to.equal('off');
    expect(send(v, 20)).to.equal(0);
    expect(v.onAck(App, 5, 0, { ect0: 3, ect1: 0, ce: 3 })).to.equal(0);
  });
});

describe('ECN between two connections', () => {
  /** A 300 KB upload over a path that does `path` to the codepoints; the finished link. */
  function transfer(path?: (cp: number, toServer: boolean, n: number) => number): Link {
    const l = new Link(clientConfig({ ecn: true }), serverConfig({ ecn: true }));
    let n = 0;
    if (path) l.ecnPath = (cp, toServer) => path(cp, toServer, n++);
    const data = Buffer.alloc(300_000, 7);
    const u = upload(l, data);
    expect(l.run(() => u.done, 600_000)).to.be.true;
    expect(Buffer.concat(u.received).equals(data)).to.be.true;
    return l;
  }

  it('validates a path that keeps the marks: both sides end capable', () => {
    const l = transfer();
    expect(l.client.ecnState).to.equal('capable');
    expect(l.server!.ecnState).to.equal('capable');
  });

  it('stops marking on a path that erases them, and the data still arrives', () => {
    const l = transfer(() => 0);
    expect(l.client.ecnState).to.equal('failed');
    expect(l.client.ecnCodepoint).to.equal(0);
  });

  it('takes CE marks as congestion: a smaller window than on a clean path', () => {
    const clean = transfer();
    const marked = transfer((cp, toServer, n) => (cp !== 0 && toServer && n % 40 === 39 ? CE : cp));
    expect(marked.client.ecnState).to.equal('capable');
    expect(marked.client.stats.cwnd).to.be.lessThan(clean.client.stats.cwnd);
  });
});
