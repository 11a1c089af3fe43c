/**
 * The memory suite's floor: a bare Node process running Fastify with one POST
 * route and nothing of phonehome loaded. Prints `{"url": ..., "pid": ...}` on
 * stdout when it listens; stops on SIGTERM.
 *
 * Usage: node bench/floor.ts
 */
import type { AddressInfo } from "node:net";
import Fastify from "fastify";

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
app.post("/v1/activations", async (request, reply) => {
  const body = request.body as { device?: unknown; eventId?: unknown };
  return reply
    .status(201)
    .send({ device: String(body.device), eventId: String(body.eventId), replayed: false });
});
await app.listen({ host: "127.0.0.1", port: 0 });
const { port } = app.server.address() as AddressInfo;
process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}`, pid: process.pid })}\n`);
