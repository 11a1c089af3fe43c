/**
 * The cleartext start of a TLS connection: the ClientHello (server name,
 * offered versions, cipher suites, ALPN) and the ServerHello (negotiated
 * version and cipher suite). Handshake messages may span several records;
 * GREASE values (RFC 8701) are dropped. Truncated hellos yield what was read.
 */
import { cipherName, isGrease, versionName } from "./tls-names.ts";

/** What the client offered. */
export interface ClientHello {
  /** The server_name extension's host name, lower-cased; null when absent. */
  sni: string | null;
  /** The record-independent legacy_version field, e.g. "TLS 1.2". */
  legacyVersion: string;
  /** From supported_versions, in the client's order; empty when the extension is absent. */
  supportedVersions: string[];
  /** IANA names for known suites, else 0xNNNN. */
  ciphers: string[];
  alpn: string[];
}

/** What the server chose. */
export interface ServerHello {
  /** Negotiated: the supported_versions extension when present, else the legacy version. */
  version: string;
  cipher: string;
}

/** The hellos of one connection; either may be missing (one-sided or truncated capture). */
export interface TlsHellos {
  clientHello?: ClientHello;
  serverHello?: ServerHello;
}

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const SERVER_HELLO = 2;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
/** The largest record a peer may send: 2^14 plus expansion (RFC 5246 §6.2.3). */
const MAX_RECORD = 16384 + 2048;

/** True when the bytes begin with a TLS (or SSL 3.0) handshake record carrying a hello. */
export function isTls(data: Uint8Array): boolean {
  if (data.length < 5 || data[0] !== HANDSHAKE || data[1] !== 3 || (data[2] ?? 9) > 4) return false;
  const length = ((data[3] ?? 0) << 8) | (data[4] ?? 0);
  if (length === 0 || length > MAX_RECORD) return false;
  return data.length === 5 || data[5] === CLIENT_HELLO || data[5] === SERVER_HELLO;
}

/** The hellos of a connection, or null when neither direction begins with a TLS handshake. */
export function parseTlsHellos(clientData: Uint8Array, serverData: Uint8Array): TlsHellos | null {
  const clientIsTls = isTls(clientData);
  const serverIsTls = isTls(serverData);
  if (!clientIsTls && !serverIsTls) return null;
  const hellos: TlsHellos = {};
  const clientHello = clientIsTls ? parseClientHello(firstHandshake(clientData, CLIENT_HELLO)) : null;
  const serverHello = serverIsTls ? parseServerHello(firstHandshake(serverData, SERVER_HELLO)) : null;
  if (clientHello !== null) hellos.clientHello = clientHello;
  if (serverHello !== null) hellos.serverHello = serverHello;
  return hellos;
}

/** Bounds-checked big-endian reading; a read past the end throws `Truncated`. */
class Reader {
  readonly data: Uint8Array;
  pos = 0;

  constructor(data: Uint8Array) {
    this.data = data;
  }

  get remaining(): number {
    return this.data.length - this.pos;
  }

  bytes(n: number): Uint8Array {
    if (n > this.remaining) throw new Truncated();
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(): number {
    return this.bytes(1)[0] ?? 0;
  }

  u16(): number {
    const b = this.bytes(2);
    return ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  }

  /** A vector with a 1- or 2-byte length prefix. */
  vector(prefix: 1 | 2): Reader {
    const length = prefix === 1 ? this.u8() : this.u16();
    return new Reader(this.bytes(length));
  }

  /** Like `vector`, but a vector cut short by the end of the data yields what is there. */
  vectorOrRest(prefix: 1 | 2): Reader {
    const length = prefix === 1 ? this.u8() : this.u16();
    return new Reader(this.bytes(Math.min(length, this.remaining)));
  }

  u16List(): number[] {
    const out: number[] = [];
    while (this.remaining >= 2) out.push(this.u16());
    return out;
  }
}

class Truncated extends Error {}

/**
 * The body of the first handshake message, if it has type `type`: the
 * fragments of consecutive handshake records are joined until the message is
 * complete (or the data ends).
 */
function firstHandshake(data: Uint8Array, type: number): Uint8Array | null {
  const fragments: Uint8Array[] = [];
  let have = 0;
  let need = Infinity;
  let pos = 0;
  while (pos + 5 <= data.length && data[pos] === HANDSHAKE && have < need) {
    const length = ((data[pos + 3] ?? 0) << 8) | (data[pos + 4] ?? 0);
    const fragment = data.subarray(pos + 5, Math.min(data.length, pos + 5 + length));
    fragments.push(fragment);
    have += fragment.length;
    pos += 5 + length;
    if (need === Infinity && have >= 4) need = 4 + messageLength(Buffer.concat(fragments));
  }
  const joined = Buffer.concat(fragments);
  if (joined.length < 4 || joined[0] !== type) return null;
  return joined.subarray(4, Math.min(joined.length, 4 + messageLength(joined)));
}

function messageLength(message: Uint8Array): number {
  return ((message[1] ?? 0) << 16) | ((message[2] ?? 0) << 8) | (message[3] ?? 0);
}

function parseClientHello(body: Uint8Array | null): ClientHello | null {
  if (body === null) return null;
  const r = new Reader(body);
  try {
    const legacyVersion = versionName(r.u16());
    r.bytes(32);
    r.vector(1);
    const ciphers = r
      .vector(2)
      .u16List()
      .filter((c) => !isGrease(c))
      .map(cipherName);
    const hello: ClientHello = { sni: null, legacyVersion, supportedVersions: [], ciphers, alpn: [] };
    r.vector(1);
    if (r.remaining >= 2) readClientExtensions(r.vectorOrRest(2), hello);
    return hello;
  } catch (error) {
    if (error instanceof Truncated) return null;
    throw error;
  }
}

function readClientExtensions(r: Reader, hello: ClientHello): void {
  for (const [type, ext] of extensions(r)) {
    if (type === EXT_SERVER_NAME) hello.sni = serverName(ext);
    else if (type === EXT_ALPN) hello.alpn = protocols(ext);
    else if (type === EXT_SUPPORTED_VERSIONS) hello.supportedVersions = offeredVersions(ext);
  }
}

/** Each complete extension as [type, data]; a truncated last one is dropped. */
function extensions(r: Reader): [number, Reader][] {
  const out: [number, Reader][] = [];
  while (r.remaining >= 4) {
    const type = r.u16();
    const length = r.u16();
    if (length > r.remaining) break;
    if (!isGrease(type)) out.push([type, new Reader(r.bytes(length))]);
    else r.bytes(length);
  }
  return out;
}

function serverName(ext: Reader): string | null {
  try {
    const list = ext.vector(2);
    while (list.remaining > 0) {
      const nameType = list.u8();
      const name = list.vector(2);
      if (nameType === 0) return Buffer.from(name.data).toString("latin1").toLowerCase();
    }
  } catch (error) {
    if (!(error instanceof Truncated)) throw error;
  }
  return null;
}

function protocols(ext: Reader): string[] {
  const out: string[] = [];
  try {
    const list = ext.vector(2);
    while (list.remaining > 0) {
      const name = list.vector(1).data;
      const grease = name.length === 2 && isGrease(((name[0] ?? 0) << 8) | (name[1] ?? 0));
      if (!grease) out.push(Buffer.from(name).toString("latin1"));
    }
  } catch (error) {
    if (!(error instanceof Truncated)) throw error;
  }
  return out;
}

function offeredVersions(ext: Reader): string[] {
  try {
    return ext
      .vector(1)
      .u16List()
      .filter((v) => !isGrease(v))
      .map(versionName);
  } catch (error) {
    if (error instanceof Truncated) return [];
    throw error;
  }
}

function parseServerHello(body: Uint8Array | null): ServerHello | null {
  if (body === null) return null;
  const r = new Reader(body);
  try {
    let version = r.u16();
    r.bytes(32);
    r.vector(1);
    const cipher = cipherName(r.u16());
    r.u8();
    if (r.remaining >= 2) {
      for (const [type, ext] of extensions(r.vectorOrRest(2))) {
        if (type === EXT_SUPPORTED_VERSIONS && ext.remaining >= 2) version = ext.u16();
      }
    }
    return { version: versionName(version), cipher };
  } catch (error) {
    if (error instanceof Truncated) return null;
    throw error;
  }
}
