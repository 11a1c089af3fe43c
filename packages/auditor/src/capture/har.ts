/**
 * HAR entries as the rest of the pipeline sees captures. A HAR has no
 * packets: it is recorded above TLS, with bodies already decoded. Each entry
 * becomes an exchange on a made-up TCP connection, from 192.0.2.1 (TEST-NET-1;
 * 2001:db8::1 towards an IPv6 server) on a port numbered after the entry, to
 * `serverIPAddress` (else the URL's host when it is an address literal, else
 * "" with the host in `har.host`) on the URL's port (80/443 by default).
 *
 * The client sends the request serialised as HTTP/1.1: request line (method,
 * path and query), Host first, the recorded headers in order, the body
 * (postData.text; base64 when postData.encoding says so; else its params
 * form-encoded). The server answers with the status line, headers and body
 * (content.text, base64 when content.encoding is "base64"). Because bodies
 * are decoded, Content-Encoding and Transfer-Encoding are dropped, and
 * Content-Length is set to the real length. HTTP/2 pseudo-headers (":path")
 * are dropped. Header text is written as UTF-8, CR and LF replaced by spaces.
 *
 * As packets (readPackets), an exchange is the handshake, one segment per
 * message and the FIN exchange, all numbered with the entry's index; as a
 * flow (readFlows), it is complete at once and marked with `har`, so that
 * the protocols know an https URL's plaintext for what it is.
 */
import { canonicalIp, endpointText } from "./address.ts";
import { isValidTime } from "./records.ts";
import type { Endpoint, Flow, Packet } from "../types.ts";

/** One HAR entry as a request and a response between two endpoints. */
export interface HarExchange {
  index: number;
  time: number;
  endTime: number;
  client: Endpoint;
  server: Endpoint;
  scheme: "http" | "https";
  host: string;
  request: Uint8Array;
  response: Uint8Array;
}

const CLIENT_IPV4 = "192.0.2.1";
const CLIENT_IPV6 = "2001:db8::1";
const CLIENT_ISN = 1000;
const SERVER_ISN = 5000;
const EMPTY: Uint8Array = new Uint8Array(0);
const DROPPED_REQUEST_HEADERS = new Set(["host", "content-length", "transfer-encoding", "content-encoding"]);
const DROPPED_RESPONSE_HEADERS = new Set(["content-length", "transfer-encoding", "content-encoding"]);
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);
const SCHEMES: Record<string, "http" | "https"> = {
  "http:": "http",
  "ws:": "http",
  "https:": "https",
  "wss:": "https",
};

type Json = Record<string, unknown>;

/** The exchange an entry records, or undefined when it has no usable http(s) URL. */
export function harExchange(entry: unknown, index: number): HarExchange | undefined {
  if (!isRecord(entry) || !isRecord(entry.request)) return undefined;
  const url = parseUrl(entry.request.url);
  const scheme = url ? SCHEMES[url.protocol] : undefined;
  if (!url || !scheme) return undefined;
  const time = dateOf(entry.startedDateTime);
  const ip = canonicalIp(text(entry.serverIPAddress)) ?? canonicalIp(url.hostname) ?? "";
  const defaultPort = scheme === "https" ? 443 : 80;
  return {
    index,
    time,
    endTime: endOf(time, entry.time),
    client: { ip: ip.includes(":") ? CLIENT_IPV6 : CLIENT_IPV4, port: 1024 + ((index - 1) % 64512) },
    server: { ip, port: url.port === "" ? defaultPort : Number(url.port) },
    scheme,
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    request: serialiseRequest(entry.request, url),
    response: isRecord(entry.response) ? serialiseResponse(entry.response) : EMPTY,
  };
}

function serialiseRequest(request: Json, url: URL): Uint8Array {
  const method = text(request.method) || "GET";
  const headers = headerList(request.headers);
  const host =
    headers.find(([name]) => name.toLowerCase() === "host" || name === ":authority")?.[1] ?? url.host;
  const body = requestBody(request.postData);
  const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${clean(host)}`];
  lines.push(...keptHeaders(headers, DROPPED_REQUEST_HEADERS));
  if (body.length > 0 || BODY_METHODS.has(method.toUpperCase())) lines.push(`Content-Length: ${body.length}`);
  return message(lines, body);
}

/** A response with no status (0: blocked, failed, or not recorded) sends nothing. */
function serialiseResponse(response: Json): Uint8Array {
  const status = typeof response.status === "number" ? response.status : 0;
  if (status <= 0) return EMPTY;
  const body = responseBody(response.content);
  const lines = [`HTTP/1.1 ${status} ${clean(text(response.statusText))}`];
  lines.push(...keptHeaders(headerList(response.headers), DROPPED_RESPONSE_HEADERS));
  if (!(status < 200 || status === 204 || status === 304)) lines.push(`Content-Length: ${body.length}`);
  return message(lines, body);
}

function message(lines: string[], body: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "utf8"), body]);
}

function requestBody(postData: unknown): Uint8Array {
  if (!isRecord(postData)) return EMPTY;
  if (typeof postData.text === "string") return decodeText(postData.text, postData.encoding);
  if (!Array.isArray(postData.params)) return EMPTY;
  const pairs = postData.params
    .filter(isRecord)
    .map((p) => `${formEncode(text(p.name))}=${formEncode(text(p.value))}`);
  return Buffer.from(pairs.join("&"), "utf8");
}

function responseBody(content: unknown): Uint8Array {
  if (!isRecord(content) || typeof content.text !== "string") return EMPTY;
  return decodeText(content.text, content.encoding);
}

function decodeText(value: string, encoding: unknown): Uint8Array {
  return Buffer.from(value, encoding === "base64" ? "base64" : "utf8");
}

/** A lone surrogate (which JSON's \ud800 can give) becomes U+FFFD, as in UTF-8 elsewhere, not a URIError. */
function formEncode(value: string): string {
  return encodeURIComponent(value.toWellFormed()).replaceAll("%20", "+");
}

/** HAR headers as [name, value] pairs, in order. */
function headerList(value: unknown): [string, string][] {
  if (!Array.isArray(value)) return [];
  return value.filter(isRecord).map((h): [string, string] => [text(h.name), text(h.value)]);
}

/** `Name: value` lines of the headers kept: no pseudo-headers, none of `dropped`. */
function keptHeaders(headers: [string, string][], dropped: Set<string>): string[] {
  return headers
    .filter(([name]) => name !== "" && !name.startsWith(":") && !dropped.has(name.toLowerCase()))
    .map(([name, value]) => `${clean(name)}: ${clean(value)}`);
}

/** CR and LF would end the header early: spaces instead. */
function clean(value: string): string {
  return value.replace(/[\r\n]+/g, " ");
}

/** The entry as packets: handshake, request, response, FIN exchange. */
export function exchangePackets(exchange: HarExchange): Packet[] {
  const { request, response, time, endTime } = exchange;
  const clientData = CLIENT_ISN + 1;
  const serverData = SERVER_ISN + 1;
  const clientFin = clientData + request.length;
  const serverFin = serverData + response.length;
  const packets = [
    packet(exchange, true, time, CLIENT_ISN, 0, { syn: true }),
    packet(exchange, false, time, SERVER_ISN, clientData, { syn: true, ack: true }),
    packet(exchange, true, time, clientData, serverData, { ack: true }),
  ];
  if (request.length > 0)
    packets.push(packet(exchange, true, time, clientData, serverData, { ack: true }, request));
  if (response.length > 0)
    packets.push(packet(exchange, false, endTime, serverData, clientFin, { ack: true }, response));
  packets.push(
    packet(exchange, true, endTime, clientFin, serverFin, { fin: true, ack: true }),
    packet(exchange, false, endTime, serverFin, clientFin + 1, { fin: true, ack: true }),
    packet(exchange, true, endTime, clientFin + 1, serverFin + 1, { ack: true }),
  );
  return packets;
}

/** How many packets exchangePackets makes of an exchange: 6, plus one per message that is not empty. */
export function exchangePacketCount(exchange: HarExchange): number {
  return 6 + (exchange.request.length > 0 ? 1 : 0) + (exchange.response.length > 0 ? 1 : 0);
}

interface Flags {
  syn?: boolean;
  ack?: boolean;
  fin?: boolean;
}

function packet(
  exchange: HarExchange,
  fromClient: boolean,
  time: number,
  seq: number,
  ack: number,
  flags: Flags,
  payload: Uint8Array = EMPTY,
): Packet {
  return {
    time,
    index: exchange.index,
    transport: "tcp",
    src: fromClient ? exchange.client : exchange.server,
    dst: fromClient ? exchange.server : exchange.client,
    tcp: { seq, ack, syn: flags.syn === true, ack_: flags.ack === true, fin: flags.fin === true, rst: false },
    payload,
  };
}

/** The entry as a finished flow, marked as HAR-recorded. */
export function exchangeFlow(exchange: HarExchange): Flow {
  const { client, server, host } = exchange;
  return {
    id: `tcp ${endpointText(client)} → ${endpointText(server, host)}`,
    transport: "tcp",
    client,
    server,
    firstTime: exchange.time,
    lastTime: exchange.endTime,
    clientData: exchange.request,
    serverData: exchange.response,
    gaps: { client: 0, server: 0 },
    har: { scheme: exchange.scheme, host },
  };
}

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function parseUrl(value: unknown): URL | undefined {
  return typeof value === "string" && URL.canParse(value) ? new URL(value) : undefined;
}

/** The entry's end: its start plus its `time` (ms), unless that is no duration or would be no valid date. */
function endOf(start: number, duration: unknown): number {
  const end = start + (typeof duration === "number" ? Math.max(0, duration) : 0);
  return isValidTime(end) ? end : start;
}

function dateOf(value: unknown): number {
  const time = typeof value === "string" ? Date.parse(value) : NaN;
  return Number.isNaN(time) ? 0 : time;
}
