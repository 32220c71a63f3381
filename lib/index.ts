// zquic: post-quantum QUIC for Node.js. The public API, shaped like node:quic:
//   const endpoint = await listen((session) => { session.onstream = (s) => s.pipe(s); }, opts);
//   const session = await connect('localhost:4433', { alpn: 'echo', ca });
//   await session.opened; const stream = await session.createBidirectionalStream();
// This file only re-exports; the code lives in the layers below (scripts/check-layers.ts).
export { listen } from './net/listen.js';
export { connect } from './net/connect.js';
export type { CommonOptions, ListenOptions, ConnectOptions } from './net/options.js';
export type { IoMode } from './net/endpoint.js';
export { QuicEndpoint, type QuicEndpointEvents } from './net/endpoint.js';
export { QuicWorkerPool } from './net/workers.js';
export {
  QuicSession,
  QuicSessionError,
  type HandshakeSummary,
  type QuicSessionEvents,
  type SessionCloseKind,
} from './net/session.js';
export { QuicStream, QuicStreamError, type QuicStreamEvents } from './net/stream.js';
export { selfSignedCertificate } from './net/self-signed.js';
export { H3, H3Error } from './h3/errors.js';
export type { Http3HeaderValue, Http3HeadersInit } from './net/h3-binding.js';
export {
  serveHttp3,
  type Http3Handler,
  type Http3ListenOptions,
  type Http3Request,
  type Http3Response,
} from './net/http3-server.js';
export {
  connectHttp3,
  type Http3Client,
  type Http3ClientResponse,
  type Http3ConnectOptions,
  type Http3RequestInit,
} from './net/http3-client.js';
export { Http3Agent, type Http3AgentOptions, type Http3AgentStats } from './net/pool.js';
export { fetchHttp3, globalHttp3Agent, type Http3FetchInit } from './net/fetch.js';
export { HQ_ALPN, HqError, formatHqRequest, parseHqRequest } from './h3/hq.js';
export type { Address, ConnectionStats } from './quic/connection.js';
export {
  decodeQuicLbCid,
  encodeQuicLbCid,
  type QuicLbConfig,
  type QuicLbFields,
} from './quic/quic-lb.js';
export type { GroupName } from './crypto/groups.js';
export type { SessionTicket } from './tls/session-ticket.js';
export { TicketKeys } from './tls/session-ticket.js';
export { encodeSessionTicket, decodeSessionTicket } from './tls/session-ticket.js';
