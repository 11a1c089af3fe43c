/**
 * A service that shuts down answers the requests that still reach it `503
 * service.unavailable` with Retry-After, in the error shape of every route,
 * while what is in flight finishes. Connections with nothing being answered
 * (kept alive between requests, silent, half-sent) do not hold its exit up.
 */
import assert from "node:assert/strict";
import { type AddressInfo, connect } from "node:net";
import { describe, it } from "node:test";
import { Pool } from "undici";
import { createLogger } from "../log/index.ts";
import { createService, RETRY_AFTER_SECONDS } from "./service.ts";

describe("a service shutting down", () => {
  it("finishes the request in flight and answers the next one on the same connection 503 with Retry-After", async () => {
    const { app } = await createService({
      name: "closing-test",
      description: "test",
      logger: createLogger("silent"),
      bodyLimit: 1024,
      ready: async () => true,
    });
    let release: () => void = () => {};
    let started: () => void = () => {};
    const inFlight = new Promise<void>((resolve) => {
      started = resolve;
    });
    app.get("/slow", async () => {
      started();
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return { done: true };
    });
    app.get("/fast", async () => ({ fast: true }));
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as AddressInfo;
    // One connection, two requests pipelined on it: the second is read after the first is answered.
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1, pipelining: 2 });
    try {
      const slow = pool.request({ path: "/slow", method: "GET" });
      const fast = pool.request({ path: "/fast", method: "GET" });
      await inFlight;
      const closed = app.close();
      // Let close() begin before the in-flight request ends.
      await new Promise((resolve) => setImmediate(resolve));
      release();
      const first = await slow;
      assert.equal(first.statusCode, 200);
      assert.deepEqual(await first.body.json(), { done: true });
      const second = await fast;
      assert.equal(second.statusCode, 503);
      assert.equal(second.headers["retry-after"], String(RETRY_AFTER_SECONDS));
      const body = (await second.body.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, "service.unavailable");
      assert.match(body.error.message, /shutting down/);
      await closed;
    } finally {
      await pool.destroy();
    }
  });

  it("closes connections that answer nothing at once: kept alive, silent or half-sent, and exits when the last answer is written", async () => {
    const { app } = await createService({
      name: "closing-test",
      description: "test",
      logger: createLogger("silent"),
      ready: async () => true,
    });
    app.get("/slow", async () => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return { done: true };
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const open = (text: string) => {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      if (text) socket.write(text);
      return new Promise<void>((resolve) => socket.on("close", () => resolve()));
    };
    // Without draining, each of these holds the close for the idle timeout (5 minutes by default).
    const silent = open("");
    const halfSent = open("GET /healthz HTTP/1.1\r\nhost: test\r\n");
    const keptAlive = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
    const idle = await keptAlive.request({ path: "/healthz", method: "GET" });
    await idle.body.text();
    const slow = fetch(`http://127.0.0.1:${port}/slow`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    await app.close();
    const tookMs = performance.now() - started;
    assert.equal((await slow).status, 200, "the answer under way was written");
    await Promise.all([silent, halfSent]);
    assert.ok(tookMs < 2000, `closed after ${Math.round(tookMs)} ms`);
    await keptAlive.destroy();
  });

  it("answers a request that arrives on a kept-alive connection just after close began 503, not with a reset", async () => {
    const { app } = await createService({
      name: "closing-test",
      description: "test",
      logger: createLogger("silent"),
      ready: async () => true,
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
    try {
      const first = await pool.request({ path: "/healthz", method: "GET" });
      assert.equal(first.statusCode, 200);
      await first.body.text();
      const closed = app.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      // The same kept-alive connection (the pool has one), 100 ms into the close.
      const late = await pool.request({ path: "/healthz", method: "GET" });
      assert.equal(late.statusCode, 503);
      assert.equal(
        ((await late.body.json()) as { error: { code: string } }).error.code,
        "service.unavailable",
      );
      await closed;
    } finally {
      await pool.destroy();
    }
  });
});
