/**
 * The pure PostgreSQL v3 wire codec for Warden's server side: it decodes what callers send (startup packets,
 * frontend messages) and encodes what a server sends (authentication, status, errors), plus the few upstream
 * bodies Warden records. It is the reverse of `pg-protocol`, which only parses backend and writes frontend
 * messages. It owns byte layouts only: it must never do I/O, hold sockets or timers, or make access decisions.
 * Every malformation surfaces as a WardenError (WARDEN_ERR_PROTOCOL or WARDEN_ERR_MESSAGE_TOO_LARGE), never as a
 * Buffer RangeError. Implementation lives in small siblings; import from this module only.
 */
export {
  SSL_REQUEST_CODE,
  GSSENC_REQUEST_CODE,
  CANCEL_REQUEST_CODE,
  PROTOCOL_3_0,
  MAX_STARTUP_PACKET,
  MIN_CANCEL_KEY,
  MAX_CANCEL_KEY,
  NEWEST_MINOR_VERSION,
  type StartupPacket,
  decodeStartupPacket,
  StartupReader,
  encodeCancelRequest,
} from './codec-startup.js';
export { FrameScanner } from './codec-scanner.js';
export {
  FRONTEND,
  type BindMessage,
  decodeQuery,
  decodePassword,
  decodeParse,
  decodeBind,
  decodeExecute,
  decodeDescribeOrClose,
  bindParamsAsText,
} from './codec-frontend.js';
export {
  BACKEND,
  type PgErrorFields,
  decodeCommandComplete,
  rowsFromCommandTag,
  decodeErrorFields,
  decodeParameterStatus,
  decodeBackendKeyData,
  encodeAuthenticationCleartextPassword,
  encodeAuthenticationOk,
  encodeParameterStatus,
  encodeBackendKeyData,
  encodeReadyForQuery,
  encodeErrorResponse,
  encodeNoticeResponse,
  encodeNegotiateProtocolVersion,
} from './codec-backend.js';
export {
  decodeCopyOutResponse, decodeNotification, decodeRowDescription, encodeFieldsMessage, encodeNotification, textMessage,
  wrapMessage, type FieldDescription,
} from './codec-results.js';
