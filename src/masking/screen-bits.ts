/**
 * The bits the byte screen speaks in: one per content detector, plus NON_ASCII and PATTERNS. Shared by the screen's
 * passes and by the content masking that reads their result. Constants only.
 */
import type { DetectorName } from './detectors.js';

// The detector bits as plain constants (the hot path must not load them from an object), and by name.
/** The bit of the `card` detector. */
export const CARD = 1 << 0;
/** The bit of the `email` detector. */
export const EMAIL = 1 << 1;
/** The bit of the `phone` detector. */
export const PHONE = 1 << 2;
/** The bit of the `iban` detector. */
export const IBAN = 1 << 3;
/** The bit of the `ssn` detector. */
export const SSN = 1 << 4;
/** The bit of the `ipv4` detector. */
export const IPV4 = 1 << 5;
/** The bit of the `ipv6` detector. */
export const IPV6 = 1 << 6;
/** The bit of the `jwt` detector. */
export const JWT = 1 << 7;
/** The bit of the `private_key` detector. */
export const PRIVATE_KEY = 1 << 8;
/** The bit of the `aws_access_key` detector. */
export const AWS = 1 << 9;
/** The bit of the `github_token` detector. */
export const GITHUB = 1 << 10;
/** The bit of the `slack_token` detector. */
export const SLACK = 1 << 11;
/** The bit of the `generic_api_key` detector. */
export const GENERIC = 1 << 12;

/** One bit per detector. */
export const DETECTOR_BITS: Readonly<Record<DetectorName, number>> = Object.freeze({
  card: CARD, email: EMAIL, phone: PHONE, iban: IBAN, ssn: SSN, ipv4: IPV4, ipv6: IPV6, jwt: JWT, private_key: PRIVATE_KEY,
  aws_access_key: AWS, github_token: GITHUB, slack_token: SLACK, generic_api_key: GENERIC,
});
/** The value holds a byte >= 0x80: it needs UTF-8 decoding (else a latin1 slice of the row is exact). */
export const NON_ASCII = 1 << 20;
/** Set in an action's mask when it has operator patterns: those cannot be screened, so every value is decoded. */
export const PATTERNS = 1 << 21;
