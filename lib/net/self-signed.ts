// A self-signed ECDSA P-256 certificate for `zquic server` without --cert (Node 20 cannot make
// X.509 certificates itself). A minimal DER writer for one fixed shape of RFC 5280 §4.1
// TBSCertificate, signed with node:crypto. For tests and demos only: clients must pin it
// (pass it as `ca`) or use --insecure.
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const groups: number[] = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) groups.unshift(0x80 | (v & 0x7f));
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5.1: UTCTime YYMMDDHHMMSSZ for years < 2050, else GeneralizedTime. */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(iso.slice(2)))
    : tlv(0x18, Buffer.from(iso));
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand '::' then 8 groups of 16 bits.
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export interface SelfSigned {
  /** PEM certificate and PKCS#8 private key. */
  cert: string;
  key: string;
}

/** Makes a certificate for `names` (host names and IP addresses), valid from an hour ago for
 * `days` days. */
export function selfSignedCertificate(
  names: readonly string[] = ['localhost', '127.0.0.1', '::1'],
  days = 30,
): SelfSigned {
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string' || !n))
    throw new TypeError('names must be a non-empty array of strings');
  if (!Number.isInteger(days) || days < 1) throw new RangeError('days must be a positive integer');
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const name = seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(names[0]!)))));
  const now = Date.now();
  const serial = randomBytes(16);
  // A positive INTEGER (RFC 5280 §4.1.2.2) in minimal DER: first byte 0x01..0x7f.
  serial[0] = 0x40 | (serial[0]! & 0x3f);
  const san = names.map((n) =>
    isIPv4(n) || isIPv6(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n)),
  );
  const ext = (id: string, critical: boolean, value: Buffer) =>
    seq(oid(id), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), tlv(0x04, value));
  const extensions = seq(
    ext('2.5.29.15', true, tlv(0x03, Buffer.from([0x07, 0x80]))), // keyUsage digitalSignature
    ext('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage serverAuth
    ext('2.5.29.17', false, seq(...san)), // subjectAltName
  );
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // v3
    tlv(0x02, serial),
    ecdsaSha256,
    name,
    seq(time(new Date(now - 3_600_000)), time(new Date(now + days * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, ecdsaSha256, tlv(0x03, Buffer.from([0]), signature));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  const cert = `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
  new X509Certificate(cert); // a malformed encoding would be our bug: fail loudly here
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}
