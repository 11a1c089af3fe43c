/**
 * The HTTP shell every phonehome service shares: Fastify with schemas compiled
 * at start-up, one error handler that maps every failure to a stable code,
 * OpenAPI at `/openapi.json`, `/healthz`, `/readyz` and Prometheus `/metrics`
 * (service token). No client can hold a service's memory or connections: a
 * route reads at most its own body limit, and a request that does not arrive
 * in time is cut off (config `http`, docs/decisions/0035).
 * Routes stay thin: they validate, call one service function, and present.
 */
import { readFileSync } from "node:fs";
import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import { Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import cors from "@fastify/cors";
import swagger from "@fastify/swagger";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { type Static, Type as T } from "@sinclair/typebox";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from "fastify";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { addCalendarFormats } from "../calendar/index.ts";
import { DEFAULT_HTTP, type HttpConfig, type TlsConfig } from "../config/index.ts";
import { asStoreError } from "../db/index.ts";
import { type ErrorCode, PhoneHomeError } from "../errors/index.ts";
import { serviceTokenCheck, type ServiceTokenSource } from "./service-token.ts";
import { findUnstorableText } from "./text.ts";
import { workerMetrics } from "./worker-metrics.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /**
     * The route's body schema pins every string to a pattern that refuses text
     * `findUnstorableText` would, and the route answers its own validation
     * errors (the ingest routes, which count them in the ledger): the boundary
     * leaves the body to it.
     */
    bodyTextCheckedBySchema?: boolean;
  }
}

/** The error body every route documents. */
export const ErrorResponse = T.Object(
  {
    error: T.Object({
      code: T.String({ description: "stable error code; see docs/errors.md" }),
      message: T.String(),
      path: T.Optional(T.String({ description: "JSON pointer of the offending field" })),
      problems: T.Optional(T.Array(T.Object({ path: T.String(), message: T.String() }))),
    }),
  },
  { $id: "ErrorResponse", description: "A structured error" },
);
export type ErrorResponseBody = Static<typeof ErrorResponse>;

/** A Fastify instance with TypeBox typing, as every service uses. */
export type App = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What a service needs to be built. */
export interface ServiceOptions {
  /** Short name, used in the OpenAPI title and the metrics' `service` label. */
  name: string;
  description: string;
  logger: FastifyBaseLogger;
  /**
   * Largest request body of a route that names no `bodyLimit` of its own, in
   * bytes (default `DEFAULT_BODY_LIMIT`). The few routes that take more say so
   * beside their schema; the OpenAPI document states each route's limit.
   */
  bodyLimit?: number;
  /** How long to wait for clients, and which load balancers to believe (config `http`). */
  http?: HttpConfig;
  /**
   * The bearer token `/metrics` asks for (the service token): counters by batch
   * and build could show one device's activity. Without one, `/metrics` is not served.
   */
  metricsToken?: ServiceTokenSource;
  tls?: TlsConfig | undefined;
  /** Readiness: resolves true when the service can take traffic. */
  ready: () => Promise<boolean>;
  /**
   * The origins whose pages may call this service from a browser (this deployment's web apps,
   * docs/web.md); read per request. None when absent.
   */
  corsOrigins?: () => readonly string[];
}

const VERSION = "0.1.0";

/** The body limit of a route that names none: a request of a few fields (a sign-in, a request id, a decision). */
export const DEFAULT_BODY_LIMIT = 16 * 1024;

/**
 * How every service compiles its route schemas (Fastify's `ajv` option), so
 * that a body is read the same wherever it arrives (the bench's floor server
 * uses it too).
 */
export const SCHEMA_COMPILER = {
  // Reject, never strip or coerce: a field the schema does not know is an error.
  customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false },
  // Dates and instants are read strictly (src/calendar), as everywhere else.
  onCreate: (ajv) => {
    addCalendarFormats(ajv);
  },
} satisfies FastifyServerOptions["ajv"];

/** Bytes as a reader says them: 16 KiB, 64 MiB. */
export function sizeInWords(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** What a `503 service.unavailable` asks the client to wait, in seconds, before it tries again. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * How long `/readyz` waits for the readiness check (a store query) before it
 * answers "not ready": a load balancer's probe must get an answer, also from
 * a store that froze.
 */
export const READY_DEADLINE_MS = 1500;

/** True when `check` resolves true before `ms` have passed; false when it is late, false or fails. */
async function withinDeadline(check: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([check.catch(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Builds a service with the shared endpoints, ready for its own routes. */
export async function createService(options: ServiceOptions): Promise<{ app: App; metrics: Registry }> {
  const http = options.http ?? DEFAULT_HTTP;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const server = {
    headersTimeout: http.headersTimeoutMs,
    // Node looks for late headers and requests on this beat (30 s unless told): a quarter of the
    // headers' time, at most a second, so a half-sent request is cut within a second of its time.
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(http.headersTimeoutMs / 4))),
  };
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit,
    // A client that does not finish its request in time is cut off (request.timeout), so that
    // half-sent requests cannot pile up; a connection silent for too long is closed, also mid-answer.
    requestTimeout: http.requestTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    connectionTimeout: http.idleTimeoutMs,
    clientErrorHandler: answerClientError(http),
    trustProxy: http.trustProxy.length > 0 ? [...http.trustProxy] : false,
    // Answered by our own hook below, in the error shape every route answers, with Retry-After.
    return503OnClosing: false,
    // A path that does not decode, or whose parameter is longer than Fastify matches, is a path
    // no route answers, told in the errors' own shape.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const mapped =
        error.code === "FST_ERR_BAD_URL" || error.code === "FST_ERR_MAX_PARAM_LENGTH"
          ? new PhoneHomeError(
              "route.not_found",
              `no route for ${request.method}: the path does not decode, or a part is longer than any route takes`,
            )
          : toPhoneHomeError(error);
      return reply.status(mapped.status).send(mapped.toBody());
    },
    // Per-request lines would flood the log at ingest rates; metrics count requests instead.
    logController: new LogController({ disableRequestLogging: true }),
    ...(options.tls
      ? { https: { cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key), ...server } }
      : { http: server }),
    ajv: SCHEMA_COMPILER,
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  // Every API speaks JSON only; any other body is refused with request.unsupported_media_type.
  app.removeContentTypeParser("text/plain");

  const metrics = new Registry();
  metrics.setDefaultLabels({ service: options.name });
  collectDefaultMetrics({ register: metrics });
  const requests = new Counter({
    name: "phonehome_http_requests_total",
    help: "HTTP requests answered, by route and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [metrics],
  });
  const latency = new Histogram({
    name: "phonehome_http_request_duration_seconds",
    help: "Time to answer an HTTP request",
    labelNames: ["method", "route"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics],
  });
  new Gauge({
    name: "phonehome_ready",
    help: "1 when the service is ready (what /readyz answers: its store takes writes), 0 when not",
    registers: [metrics],
    // Over the workers of one `serve`: ready only when every one is.
    aggregator: "min",
    async collect() {
      this.set((await withinDeadline(options.ready(), READY_DEADLINE_MS)) ? 1 : 0);
    },
  });
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  const allowed = options.corsOrigins;
  if (allowed !== undefined) {
    // Bearer tokens, never cookies: a page of another origin gets nothing it could not ask for itself.
    await app.register(cors, {
      origin: (origin, callback) => callback(null, origin !== undefined && allowed().includes(origin)),
      methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
      allowedHeaders: ["authorization", "content-type"],
      maxAge: 600,
    });
  }

  await app.register(swagger, {
    // Every route that takes a body states how large it may be, as the service enforces it.
    transform: ({ schema, url, route }) => {
      if (schema?.body === undefined) return { schema, url };
      const limit = route.bodyLimit ?? bodyLimit;
      const said = `Request body: at most ${sizeInWords(limit)} (larger: 413 \`request.too_large\`).`;
      const description = schema.description === undefined ? said : `${schema.description} ${said}`;
      return { schema: { ...schema, description, "x-body-limit": limit } as typeof schema, url };
    },
    // Name shared schemas by their $id (ErrorResponse, Envelope) rather than def-0, def-1.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === "string" ? json.$id : `def-${i}`,
    },
    openapi: {
      openapi: "3.1.0",
      info: { title: `phonehome ${options.name}`, description: options.description, version: VERSION },
      components: {
        securitySchemes: {
          serviceToken: {
            type: "http",
            scheme: "bearer",
            description: "the service token generated into the data directory (`secrets/service-token`)",
          },
          ownerToken: {
            type: "http",
            scheme: "bearer",
            bearerFormat: "JWT",
            description:
              "a short-lived owner token the device signs with its factory key (SDK: mintOwnerToken)",
          },
        },
      },
    },
  });
  app.addSchema(ErrorResponse);

  app.setErrorHandler((error: FastifyError | PhoneHomeError, request, reply) => {
    const mapped = toPhoneHomeError(error);
    if (mapped.code === "internal") request.log.error({ err: error }, "request failed");
    if (mapped.code === "service.unavailable") {
      request.log.warn({ err: mapped.cause ?? mapped, route: request.routeOptions.url }, mapped.message);
      reply.header("retry-after", String(mapped.retryAfterSeconds ?? RETRY_AFTER_SECONDS));
    } else if (mapped.retryAfterSeconds !== undefined) {
      reply.header("retry-after", String(mapped.retryAfterSeconds));
    }
    return reply.status(mapped.status).send(mapped.toBody());
  });
  // A request that arrives while the service shuts down is told to come back (another replica, or this
  // one restarted) rather than started on a store that is about to close.
  let closing = false;
  const drain = drainConnectionsOnClose(app.server);
  app.addHook("preClose", async () => {
    closing = true;
    // Node's close() would destroy idle kept-alive connections at once, racing a request already on its
    // way on one; the drain closes them once they are quiet instead.
    app.server.closeIdleConnections = () => {};
    drain();
  });
  app.addHook("onRequest", async (_request, reply) => {
    if (!closing) return;
    const error = new PhoneHomeError("service.unavailable", `${options.name} is shutting down; try again`);
    return reply
      .status(error.status)
      .header("retry-after", String(RETRY_AFTER_SECONDS))
      .header("connection", "close")
      .send(error.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new PhoneHomeError(
      "route.not_found",
      `no route for ${request.method} ${request.url.split("?")[0]}`,
    );
    return reply.status(error.status).send(error.toBody());
  });

  // Text no store can hold as sent (NUL, unpaired surrogates) is refused on every route, before
  // validation and so before any handler could store it.
  app.addHook("preValidation", async (request) => {
    const parts: [string, unknown][] = [
      ["params", request.params],
      ["querystring", request.query],
      ...(request.routeOptions.config.bodyTextCheckedBySchema
        ? []
        : [["body", request.body] as [string, unknown]]),
    ];
    for (const [part, value] of parts) {
      const found = findUnstorableText(value);
      if (found) {
        const path = `/${part}${found.path}`;
        throw new PhoneHomeError("request.invalid", `${path} ${found.problem}`, { path });
      }
    }
  });

  const hidden = { hide: true } as const;
  app.get("/openapi.json", { schema: hidden }, async () => app.swagger());
  app.get("/healthz", { schema: { ...hidden } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { ...hidden } }, async (_request, reply) => {
    if (await withinDeadline(options.ready(), READY_DEADLINE_MS)) return { status: "ready" };
    const error = new PhoneHomeError("service.unavailable", `${options.name} is not ready`);
    return reply.status(error.status).header("retry-after", String(RETRY_AFTER_SECONDS)).send(error.toBody());
  });
  if (options.metricsToken !== undefined) {
    // One of several workers on the port answers for them all.
    const read = workerMetrics(metrics) ?? (() => metrics.metrics());
    app.get(
      "/metrics",
      { onRequest: serviceTokenCheck(options.metricsToken), schema: hidden },
      async (_request, reply) => reply.header("content-type", metrics.contentType).send(await read()),
    );
  }
  return { app, metrics };
}

/**
 * How long a service that is shutting down waits for the answers it is
 * writing before it closes their connections too: longer than a store
 * statement's timeout, so that a write under way is answered.
 */
export const SHUTDOWN_GRACE_MS = 15_000;

/**
 * How long a closing service's connection must have answered nothing and
 * read nothing before it is closed: a request already on its way is still
 * read and answered (503, "shutting down") rather than cut off by a reset.
 */
const DRAIN_QUIET_MS = 300;

/**
 * Closes a closing service's connections once nothing is being answered or
 * read on them for `DRAIN_QUIET_MS`: kept-alive connections between requests,
 * connections that never sent one, half-sent requests (never acknowledged, so
 * nothing is lost). Node's own close waits for those until their idle timeout
 * (minutes); a request being answered is left to finish, up to
 * `SHUTDOWN_GRACE_MS`. Answers the function that starts the draining.
 */
function drainConnectionsOnClose(server: Server): () => void {
  const sockets = new Set<Socket>();
  // Over TLS the answers are written on the TLS socket; a connection still in its handshake is closed
  // by the handshake's own timeout.
  server.on(server instanceof HttpsServer ? "secureConnection" : "connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  // Node's own mark of the answer under way on a connection, cleared when it is written whole; an
  // answer written whole may still sit in the socket's buffer.
  const busy = (socket: Socket) =>
    ((socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? null) !== null ||
    socket.writableLength > 0;
  return () => {
    const seen = new Map<Socket, { read: number; quietSince: number }>();
    const sweep = () => {
      const now = performance.now();
      for (const socket of sockets) {
        const last = seen.get(socket);
        if (busy(socket) || last === undefined || last.read !== socket.bytesRead) {
          seen.set(socket, { read: socket.bytesRead, quietSince: now });
        } else if (now - last.quietSince >= DRAIN_QUIET_MS) {
          socket.destroy();
        }
      }
    };
    sweep();
    const beat = setInterval(sweep, 50);
    const deadline = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, SHUTDOWN_GRACE_MS);
    beat.unref();
    deadline.unref();
    server.once("close", () => {
      clearInterval(beat);
      clearTimeout(deadline);
    });
  };
}

/**
 * How long a connection refused at the HTTP layer keeps reading, and dropping,
 * what its client still sends once the refusal is written. Closed at once, the
 * kernel would answer that unread input with a reset, and a reset can reach the
 * client before it has read the refusal, which it then never sees.
 */
export const CLIENT_ERROR_LINGER_MS = 2000;

/**
 * Fastify's `clientErrorHandler`: what a client whose request never became one
 * is told before its connection is closed — `408 request.timeout` when its
 * headers or body did not arrive in time, `request.too_large` for headers
 * beyond Node's 16 KiB, `request.malformed` for anything else that is not
 * HTTP — in the error shape every route answers. The connection is closed
 * after the refusal is sent and the rest of the client's input is drained
 * (lingering close, `CLIENT_ERROR_LINGER_MS`), so that the refusal arrives.
 */
function answerClientError(http: HttpConfig) {
  // Node calls again for each further piece of input on a connection whose parser failed.
  const answered = new WeakSet<Socket>();
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (answered.has(socket)) return;
    answered.add(socket);
    // A reset connection has no one to answer.
    if (error.code === "ECONNRESET" || socket.destroyed) {
      socket.destroy();
      return;
    }
    const refusal =
      error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new PhoneHomeError(
            "request.timeout",
            `the request did not arrive in time: its headers are due within ${http.headersTimeoutMs / 1000} s ` +
              `and the whole request within ${http.requestTimeoutMs / 1000} s`,
          )
        : error.code === "HPE_HEADER_OVERFLOW"
          ? new PhoneHomeError("request.too_large", "the request's headers are larger than 16 KiB")
          : new PhoneHomeError("request.malformed", "the request is not well-formed HTTP/1.1");
    // Nothing may be written into an answer already under way (Node's own rule: the request that timed
    // out mid-body has an answer object, not yet begun, and is told 408). On a kept-alive connection,
    // earlier answers written whole are no obstacle.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (!socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(refusal.toBody());
    socket.end(
      `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ""}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    const linger = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
    linger.unref();
    socket.once("close", () => clearTimeout(linger));
  };
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "request.too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "request.unsupported_media_type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "request.malformed",
  FST_ERR_CTP_EMPTY_JSON_BODY: "request.malformed",
  FST_ERR_CTP_INVALID_JSON_BODY: "request.malformed",
};

/** Maps anything thrown while answering a request to a PhoneHomeError with a stable code. */
export function toPhoneHomeError(error: unknown): PhoneHomeError {
  if (error instanceof PhoneHomeError) return error;
  const e = error as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  const problem = validationProblem(e);
  if (problem) return new PhoneHomeError("request.invalid", problem.message, { path: problem.path });
  const code = e.code === undefined ? undefined : FASTIFY_CODES[e.code];
  if (code) return new PhoneHomeError(code, e.message);
  if (e instanceof SyntaxError || e.statusCode === 400)
    return new PhoneHomeError("request.malformed", e.message);
  const store = asStoreError(error);
  if (store instanceof PhoneHomeError) return store;
  return new PhoneHomeError("internal", "internal error", { cause: error });
}

/**
 * The first schema violation of a Fastify validation error, as a path and a
 * sentence, or undefined when `error` is not a validation error.
 */
export function validationProblem(error: unknown): { path: string; message: string } | undefined {
  const e = error as { validation?: ValidationIssue[]; validationContext?: string } | null;
  const issue = e?.validation?.[0];
  if (!issue) return undefined;
  const where = `/${e?.validationContext ?? "body"}${issue.instancePath ?? ""}`;
  const extra = issue.params?.additionalProperty ?? issue.params?.missingProperty;
  const path = extra === undefined ? where : `${where}/${extra}`;
  const message =
    issue.keyword === "additionalProperties"
      ? `unknown field ${JSON.stringify(extra)}`
      : issue.keyword === "required"
        ? `missing field ${JSON.stringify(extra)}`
        : `${path} ${issue.message ?? "is invalid"}`;
  return { path, message };
}

interface ValidationIssue {
  keyword: string;
  instancePath?: string;
  message?: string;
  params?: { additionalProperty?: string; missingProperty?: string };
}

/** The URL of a service that listened on port 0. */
export function urlOf(app: App, service: { listen: { host: string }; tls?: unknown }): string {
  const address = app.server.address() as AddressInfo;
  const host = service.listen.host.includes(":") ? `[${service.listen.host}]` : service.listen.host;
  return `${service.tls ? "https" : "http"}://${host}:${address.port}`;
}
