/**
 * A service that shuts down answers the requests that still reach it `503
 * service.unavailable` with Retry-After, in the error shape of every route,
 * while what is in flight finishes.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
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
});
