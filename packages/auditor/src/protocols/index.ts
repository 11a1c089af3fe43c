/**
 * The protocols the auditor reads out of a flow's bytes: HTTP/1.x (by
 * content, on any port), the TLS hellos, and DNS answers.
 */
export {
  type HttpExchange,
  type HttpOptions,
  type HttpRequest,
  type HttpResponse,
  headerValue,
  isHttpRequest,
  parseHttp,
} from "./http.ts";
export { type ClientHello, isTls, parseTlsHellos, type ServerHello, type TlsHellos } from "./tls.ts";
export { type DnsAnswer, type DnsMessage, DnsNames, normaliseIp, parseDns } from "./dns.ts";
