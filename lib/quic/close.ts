/**
 * How a connection ends (RFC 9000 §10): why (a typed kind with the wire code and reason), and
 * the closing / draining period that follows a CONNECTION_CLOSE (§10.2).
 */
import type { Frame } from './frames.js';

/**
 * Why a connection closed:
 * - `local`: the application closed it (close()), with its code;
 * - `error`: we found a protocol violation (or an internal error) and closed with its code;
 * - `peer`: the peer sent CONNECTION_CLOSE;
 * - `idle`: the idle timeout expired (§10.1, silent);
 * - `stateless-reset`: the peer no longer knows the connection (§10.3);
 * - `version-negotiation`: no QUIC version in common (RFC 9368 §4).
 */
export type CloseKind =
  'local' | 'error' | 'peer' | 'idle' | 'stateless-reset' | 'version-negotiation';

export interface CloseInfo {
  kind: CloseKind;
  code: number;
  reason: string;
  /** The code is in the application's space (CONNECTION_CLOSE 0x1d). */
  application: boolean;
  /** The peer ended the connection (`peer`, `stateless-reset`, `version-negotiation`). */
  remote: boolean;
}

export type ConnectionCloseFrame = Extract<Frame, { type: 'connection_close' }>;

/** qlog's connection_closed trigger for each kind (draft-ietf-quic-qlog-quic-events). */
const QLOG_TRIGGER: Record<CloseKind, string> = {
  local: 'application',
  error: 'error',
  peer: 'clean',
  idle: 'idle_timeout',
  'stateless-reset': 'stateless_reset',
  'version-negotiation': 'version_mismatch',
};

/** The qlog `transport:connection_closed` data for a close. */
export function qlogClosed(info: CloseInfo): Record<string, unknown> {
  return {
    owner: info.remote ? 'remote' : 'local',
    [info.application ? 'application_code' : 'connection_code']: info.code,
    reason: info.reason,
    trigger: QLOG_TRIGGER[info.kind],
  };
}

/**
 * The closing (we sent CONNECTION_CLOSE) or draining (we received one, or a stateless reset)
 * period: kept until `deadline` (§10.2: three times the PTO) so that late packets are not
 * answered with a stateless reset.
 */
export class ClosePeriod {
  /** The CONNECTION_CLOSE to send while closing (undefined: draining, send nothing). */
  readonly frame: ConnectionCloseFrame | undefined;
  /** A CONNECTION_CLOSE is due. */
  sendPending: boolean;
  private received = 0;
  private answerAt = 1;

  constructor(
    readonly info: CloseInfo,
    readonly deadline: number,
    frame?: ConnectionCloseFrame,
  ) {
    this.frame = frame;
    this.sendPending = frame !== undefined;
  }

  get draining(): boolean {
    return this.frame === undefined;
  }

  /** §10.2.1: a datagram arrived while closing: answer the 1st, 2nd, 4th, 8th, ... */
  onDatagram(): void {
    if (this.frame && ++this.received >= this.answerAt) {
      this.answerAt *= 2;
      this.sendPending = true;
    }
  }
}
