/**
 * The HTTP shell's limits: a route reads no more body than it names (16 KiB
 * unless it says otherwise) and the OpenAPI document states each limit; a
 * request whose headers or body never finish is answered `408
 * request.timeout` and closed within its time; 200 of them do not keep the
 * service from answering others. Headers beyond 16 KiB or bytes that are not
 * HTTP are answered with the error shape, also on a kept-alive connection and
 * while the client is still sending, and the connection closes soon after.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { Type as T } from "@sinclair/typebox";
import { pino } from "pino";
import { DEFAULT_HTTP, type HttpConfig } from "../config/index.ts";
import { type App, CLIENT_ERROR_LINGER_MS, createService, DEFAULT_BODY_LIMIT } from "./service.ts";

const HTTP: HttpConfig = {
  ...DEFAULT_HTTP,
  headersTimeoutMs: 400,
  requestTimeoutMs: 800,
  keepAliveTimeoutMs: 1000,
  idleTimeoutMs: 5000,
};

/** What a half-sent request got back, and how long after it was sent its connection closed. */
interface Outcome {
  answer: string;
  closedAfterMs: number;
}

/** Opens a connection, writes `text` and never anything more; resolves when the service closes it. */
function halfSend(port: number, text: string): { socket: Socket; outcome: Promise<Outcome> } {
  const socket = connect(port, "127.0.0.1");
  const sent = performance.now();
  let answer = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    answer += chunk;
  });
  socket.on("error", () => undefined);
  socket.write(text);
  const outcome = new Promise<Outcome>((resolve) => {
    socket.on("close", () => resolve({ answer, closedAfterMs: performance.now() - sent }));
  });
  return { socket, outcome };
}

const HEADERS_NEVER_END = "POST /echo HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n";
const BODY_NEVER_ENDS =
  'POST /echo HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"text":';

describe("the HTTP shell's limits", () => {
  let app: App;
  let port: number;
  let base: string;
  before(async () => {
    ({ app } = await createService({
      name: "limits-test",
      description: "limits under test",
      logger: pino({ level: "silent" }),
      http: HTTP,
      ready: async () => true,
    }));
    const Body = T.Object({ text: T.String() }, { additionalProperties: false });
    app.post("/echo", { schema: { body: Body } }, async (request) => ({ length: request.body.text.length }));
    app.post(
      "/large",
      { bodyLimit: 256 * 1024, schema: { description: "Takes a lot.", body: Body } },
      async (request) => ({ length: request.body.text.length }),
    );
    app.get("/ip", async (request) => ({ ip: request.ip }));
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    port = typeof address === "object" && address !== null ? address.port : 0;
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await app?.close();
  });

  const post = async (path: string, size: number) => {
    const response = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "x".repeat(size) }),
    });
    return { status: response.status, body: (await response.json()) as { error?: { code: string } } };
  };

  test("a route that names no limit reads 16 KiB; one that names more reads that much, and no more", async () => {
    assert.equal(DEFAULT_BODY_LIMIT, 16 * 1024);
    assert.equal((await post("/echo", 16_000)).status, 200);
    const refused = await post("/echo", 17 * 1024);
    assert.deepEqual([refused.status, refused.body.error?.code], [413, "request.too_large"]);
    assert.equal((await post("/large", 200 * 1024)).status, 200);
    assert.equal((await post("/large", 257 * 1024)).body.error?.code, "request.too_large");
  });

  test("the OpenAPI document states each route's body limit", async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, { post: { description: string; "x-body-limit": number } }>;
    };
    assert.equal(doc.paths["/echo"]?.post["x-body-limit"], 16 * 1024);
    assert.match(doc.paths["/echo"]?.post.description ?? "", /^Request body: at most 16 KiB \(larger: 413/);
    assert.equal(doc.paths["/large"]?.post["x-body-limit"], 256 * 1024);
    assert.match(doc.paths["/large"]?.post.description ?? "", /^Takes a lot\. Request body: at most 256 KiB/);
  });

  test("headers that never end are answered 408 request.timeout and closed within their time", async () => {
    const { outcome } = halfSend(port, HEADERS_NEVER_END);
    const { answer, closedAfterMs } = await outcome;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /"code":"request\.timeout"/);
    assert.match(answer, /headers are due within 0\.4 s/);
    // Node looks every quarter of the headers' time: closed within that beat of the deadline.
    assert.ok(closedAfterMs >= 350 && closedAfterMs < 400 + 100 + 400, `closed after ${closedAfterMs} ms`);
  });

  test("a body that never ends is answered 408 request.timeout and closed within the request's time", async () => {
    const { outcome } = halfSend(port, BODY_NEVER_ENDS);
    const { answer, closedAfterMs } = await outcome;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /"code":"request\.timeout"/);
    assert.ok(closedAfterMs >= 750 && closedAfterMs < 800 + 100 + 400, `closed after ${closedAfterMs} ms`);
  });

  test("200 half-sent requests do not keep the service from answering others, and all are closed", async () => {
    const held = Array.from({ length: 200 }, (_, i) =>
      halfSend(port, i % 2 === 0 ? HEADERS_NEVER_END : BODY_NEVER_ENDS),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((await post("/echo", 10)).status, 200);
    const outcomes = await Promise.all(held.map((h) => h.outcome));
    const late = outcomes.filter((o) => o.closedAfterMs >= 800 + 100 + 1000);
    assert.deepEqual(late, [], "every one closed within the request's time and a beat");
    assert.equal(outcomes.filter((o) => /request\.timeout/.test(o.answer)).length, 200);
  });

  test("headers beyond 16 KiB on a kept-alive connection are answered 413 request.too_large, after the answers before", async () => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    socket.on("error", () => undefined);
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.write("GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n");
    while (!answer.includes("\r\n\r\n")) await new Promise((resolve) => setTimeout(resolve, 10));
    // Far more than the limit, in one write: the service refuses it while the client is still sending.
    socket.write(`GET /healthz?q=${"a".repeat(256 * 1024)} HTTP/1.1\r\nhost: test\r\n\r\n`);
    await closed;
    const answers = answer.split(/(?=HTTP\/1\.1 )/);
    assert.equal(answers.length, 2, answer);
    assert.match(answers[0] ?? "", /^HTTP\/1\.1 200 /);
    assert.match(answers[1] ?? "", /^HTTP\/1\.1 413 /);
    assert.match(answers[1] ?? "", /"code":"request\.too_large"/);
  });

  test("a refused connection whose client keeps sending is read for the linger time, then closed", async () => {
    // Half-open: the client goes on sending after the service has finished its answer.
    const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    socket.on("error", () => undefined);
    const started = performance.now();
    const closed = new Promise<number>((resolve) =>
      socket.on("close", () => resolve(performance.now() - started)),
    );
    socket.write("NOT HTTP AT ALL\r\n\r\n");
    const trickle = setInterval(() => socket.writable && socket.write("more"), 50);
    const closedAfterMs = await closed;
    clearInterval(trickle);
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /"code":"request\.malformed"/);
    assert.ok(
      closedAfterMs >= CLIENT_ERROR_LINGER_MS - 200 && closedAfterMs < CLIENT_ERROR_LINGER_MS + 1000,
      `closed after ${closedAfterMs} ms`,
    );
  });

  test("a kept-alive connection that sits idle is closed after the keep-alive time", async () => {
    const { outcome } = halfSend(port, "GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n");
    const { answer, closedAfterMs } = await outcome;
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.ok(closedAfterMs >= 950 && closedAfterMs < 1000 + 2500, `closed after ${closedAfterMs} ms`);
  });

  test("X-Forwarded-For names the client only behind a load balancer named in http.trustProxy", async () => {
    const ipOf = async (target: App) => {
      const answer = await target.inject({
        method: "GET",
        url: "/ip",
        headers: { "x-forwarded-for": "203.0.113.7" },
      });
      return answer.json<{ ip: string }>().ip;
    };
    assert.equal(await ipOf(app), "127.0.0.1", "not named: the connection's own address");
    const { app: behind } = await createService({
      name: "behind-a-balancer",
      description: "trusts its balancer",
      logger: pino({ level: "silent" }),
      http: { ...HTTP, trustProxy: ["127.0.0.0/8"] },
      ready: async () => true,
    });
    behind.get("/ip", async (request) => ({ ip: request.ip }));
    try {
      assert.equal(await ipOf(behind), "203.0.113.7");
    } finally {
      await behind.close();
    }
  });
});
