// A small read-only pcap / pcapng reader for `zquic inspect`: yields the UDP payloads of a
// capture (Ethernet, Linux cooked v1/v2, raw IP, BSD loopback; IPv4 and IPv6).

export interface UdpDatagram {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** Seconds since the epoch (0 when unknown). */
  time: number;
  payload: Uint8Array;
}

export class CaptureError extends Error {
  override name = 'CaptureError';
}

/** True if buf starts like a pcap or pcapng file. */
export function isCapture(buf: Uint8Array): boolean {
  if (buf.length < 4) return false;
  const m = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
  return (
    m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d || m === 0x4d3cb2a1 || m === 0x0a0d0d0a
  );
}

/** Reads every UDP datagram of a pcap or pcapng capture (other packets are skipped). */
export function readCapture(buf: Uint8Array): UdpDatagram[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (!isCapture(b)) throw new CaptureError('not a pcap or pcapng file');
  return b.readUInt32BE(0) === 0x0a0d0d0a ? readPcapng(b) : readPcap(b);
}

function need(b: Buffer, end: number, what: string): void {
  if (end > b.length) throw new CaptureError(`truncated ${what}`);
}

function readPcap(b: Buffer): UdpDatagram[] {
  need(b, 24, 'pcap header');
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linkType = u32(20) & 0x0fffffff;
  const out: UdpDatagram[] = [];
  for (let p = 24; p < b.length;) {
    need(b, p + 16, 'pcap record header');
    const time = u32(p) + u32(p + 4) / (nano ? 1e9 : 1e6);
    const caplen = u32(p + 8);
    need(b, p + 16 + caplen, 'pcap record');
    const frame = b.subarray(p + 16, p + 16 + caplen);
    const d = decodeLink(linkType, frame, time);
    if (d) out.push(d);
    p += 16 + caplen;
  }
  return out;
}

function readPcapng(b: Buffer): UdpDatagram[] {
  const out: UdpDatagram[] = [];
  let le = true;
  let ifaces: Array<{ linkType: number; tsDiv: number }> = [];
  for (let p = 0; p < b.length;) {
    need(b, p + 12, 'pcapng block header');
    const type =
      b.readUInt32BE(p) === 0x0a0d0d0a ? 0x0a0d0d0a : le ? b.readUInt32LE(p) : b.readUInt32BE(p);
    if (type === 0x0a0d0d0a) {
      // Section Header Block: the byte-order magic decides the endianness of the section.
      const bom = b.readUInt32LE(p + 8);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new CaptureError('bad pcapng byte-order magic');
      ifaces = [];
    }
    const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const u16 = (o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const len = u32(p + 4);
    if (len < 12 || len % 4 !== 0) throw new CaptureError('bad pcapng block length');
    need(b, p + len, 'pcapng block');
    if (type === 1) {
      // Interface Description Block; if_tsresol option (9) changes the time unit.
      let tsDiv = 1e6;
      for (let o = p + 16; o + 4 <= p + len - 4;) {
        const code = u16(o);
        const olen = u16(o + 2);
        if (code === 0) break;
        if (code === 9 && olen >= 1) {
          const r = b[o + 4]!;
          tsDiv = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
        }
        o += 4 + Math.ceil(olen / 4) * 4;
      }
      ifaces.push({ linkType: u16(p + 8), tsDiv });
    } else if (type === 6 || type === 3) {
      // Enhanced Packet Block (interface, timestamp, captured length) or Simple Packet Block.
      let iface = 0;
      let time = 0;
      let frame: Buffer;
      if (type === 6) {
        need(b, p + 28, 'pcapng packet block');
        iface = u32(p + 8);
        const caplen = u32(p + 20);
        if (28 + caplen > len) throw new CaptureError('pcapng packet beyond its block');
        const ts = u32(p + 12) * 2 ** 32 + u32(p + 16);
        time = ts / (ifaces[iface]?.tsDiv ?? 1e6);
        frame = b.subarray(p + 28, p + 28 + caplen);
      } else {
        frame = b.subarray(p + 16, p + len - 4);
      }
      const ifc = ifaces[iface];
      if (!ifc) throw new CaptureError('pcapng packet for an undeclared interface');
      const d = decodeLink(ifc.linkType, frame, time);
      if (d) out.push(d);
    }
    p += len;
  }
  return out;
}

function decodeLink(linkType: number, f: Buffer, time: number): UdpDatagram | undefined {
  switch (linkType) {
    case 1: {
      // Ethernet, possibly with 802.1Q tags.
      let o = 12;
      if (f.length < 14) return undefined;
      let etherType = f.readUInt16BE(o);
      while ((etherType === 0x8100 || etherType === 0x88a8) && f.length >= o + 6) {
        o += 4;
        etherType = f.readUInt16BE(o);
      }
      return decodeIp(etherType, f.subarray(o + 2), time);
    }
    case 0: // BSD loopback: 4-byte address family in host order
    case 108:
      if (f.length < 4) return undefined;
      return decodeIp(f[4] !== undefined && f[4] >> 4 === 6 ? 0x86dd : 0x0800, f.subarray(4), time);
    case 101: // raw IP
    case 12:
    case 14:
      return f.length ? decodeIp(f[0]! >> 4 === 6 ? 0x86dd : 0x0800, f, time) : undefined;
    case 228:
      return decodeIp(0x0800, f, time);
    case 229:
      return decodeIp(0x86dd, f, time);
    case 113: // Linux cooked capture v1
      return f.length >= 16 ? decodeIp(f.readUInt16BE(14), f.subarray(16), time) : undefined;
    case 276: // Linux cooked capture v2
      return f.length >= 20 ? decodeIp(f.readUInt16BE(0), f.subarray(20), time) : undefined;
    default:
      return undefined;
  }
}

function ipv6String(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

function decodeIp(etherType: number, p: Buffer, time: number): UdpDatagram | undefined {
  let src: string;
  let dst: string;
  let udp: Buffer;
  if (etherType === 0x0800) {
    if (p.length < 20 || p[0]! >> 4 !== 4) return undefined;
    const ihl = (p[0]! & 0x0f) * 4;
    const total = p.readUInt16BE(2);
    const frag = p.readUInt16BE(6);
    if (p[9] !== 17 || ihl < 20 || total < ihl || total > p.length || (frag & 0x3fff) !== 0)
      return undefined;
    src = `${p[12]}.${p[13]}.${p[14]}.${p[15]}`;
    dst = `${p[16]}.${p[17]}.${p[18]}.${p[19]}`;
    udp = p.subarray(ihl, total);
  } else if (etherType === 0x86dd) {
    if (p.length < 40) return undefined;
    let next = p[6]!;
    let o = 40;
    // Skip hop-by-hop, routing and destination options headers; fragments are not reassembled.
    while ((next === 0 || next === 43 || next === 60) && o + 8 <= p.length) {
      const n = p[o]!;
      o += (p[o + 1]! + 1) * 8;
      next = n;
    }
    if (next !== 17) return undefined;
    src = `[${ipv6String(p.subarray(8, 24))}]`;
    dst = `[${ipv6String(p.subarray(24, 40))}]`;
    udp = p.subarray(o, Math.min(p.length, 40 + p.readUInt16BE(4)));
  } else {
    return undefined;
  }
  if (udp.length < 8) return undefined;
  const len = udp.readUInt16BE(4);
  if (len < 8 || len > udp.length) return undefined;
  return {
    src,
    dst,
    srcPort: udp.readUInt16BE(0),
    dstPort: udp.readUInt16BE(2),
    time,
    payload: udp.subarray(8, len),
  };
}

/** Writes a pcap file (link type raw IPv4) of UDP datagrams: for tests and for exporting. */
export function writePcap(
  datagrams: ReadonlyArray<
    Pick<UdpDatagram, 'src' | 'dst' | 'srcPort' | 'dstPort' | 'payload'> & { time?: number }
  >,
): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(101, 20);
  parts.push(head);
  for (const d of datagrams) {
    const ip = Buffer.alloc(28 + d.payload.length);
    ip[0] = 0x45;
    ip.writeUInt16BE(ip.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    Buffer.from(d.src.split('.').map(Number)).copy(ip, 12);
    Buffer.from(d.dst.split('.').map(Number)).copy(ip, 16);
    ip.writeUInt16BE(d.srcPort, 20);
    ip.writeUInt16BE(d.dstPort, 22);
    ip.writeUInt16BE(8 + d.payload.length, 24);
    ip.set(d.payload, 28);
    const rec = Buffer.alloc(16);
    const t = d.time ?? 0;
    rec.writeUInt32LE(Math.floor(t), 0);
    rec.writeUInt32LE(Math.round((t % 1) * 1e6), 4);
    rec.writeUInt32LE(ip.length, 8);
    rec.writeUInt32LE(ip.length, 12);
    parts.push(rec, ip);
  }
  return Buffer.concat(parts);
}
