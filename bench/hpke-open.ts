/**
 * `node bench/hpke-open.ts`: microseconds per HPKE open of an activation-sized
 * seal, phonehome's `openBase` against `@hpke/core` (what the
 * collector used before, docs/decisions/0006), both measured in this run on
 * the same seals, in alternating rounds. Prints a ratio; asserts nothing.
 *
 * Options: --seals N (distinct seals, default 2000), --rounds N (default 5),
 * --size BYTES (plaintext size, default 400).
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { importRecipientKey, openBase } from "../src/core/crypto/index.ts";

const { values } = parseArgs({
  options: {
    seals: { type: "string", default: "2000" },
    rounds: { type: "string", default: "5" },
    size: { type: "string", default: "400" },
  },
});
const count = Number(values.seals);
const rounds = Number(values.rounds);
const size = Number(values.size);

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});
const ab = (bytes: Uint8Array): ArrayBuffer => {
  const out = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(out).set(bytes);
  return out;
};

const pair = await suite.kem.generateKeyPair();
const raw = new Uint8Array(await suite.kem.serializePrivateKey(pair.privateKey));
const recipient = importRecipientKey(raw);
const info = Buffer.from("phonehome/v1 region=global");
const aad = randomBytes(180); // about the size of an envelope's header bytes

const seals: { enc: Buffer; ct: Buffer }[] = [];
for (let i = 0; i < count; i += 1) {
  const sender = await suite.createSenderContext({ recipientPublicKey: pair.publicKey, info: ab(info) });
  const ct = await sender.seal(ab(randomBytes(size)), ab(aad));
  seals.push({ enc: Buffer.from(sender.enc), ct: Buffer.from(ct) });
}

/** The collector's old path: the region key deserialised once, then a recipient context and an open per seal. */
async function libraryRound(): Promise<number> {
  const key = await suite.kem.deserializePrivateKey(ab(raw));
  const start = process.hrtime.bigint();
  for (const { enc, ct } of seals) {
    const context = await suite.createRecipientContext({ recipientKey: key, enc: ab(enc), info: ab(info) });
    await context.open(ab(ct), ab(aad));
  }
  return Number(process.hrtime.bigint() - start) / 1000 / seals.length;
}

/** The new path: one call per seal (one await inside, for the import of enc). */
async function openBaseRound(): Promise<number> {
  const start = process.hrtime.bigint();
  for (const { enc, ct } of seals) await openBase(recipient, enc, info, aad, ct);
  return Number(process.hrtime.bigint() - start) / 1000 / seals.length;
}

// One unmeasured round each, so both run warm.
await libraryRound();
await openBaseRound();
const library: number[] = [];
const ours: number[] = [];
for (let r = 0; r < rounds; r += 1) {
  library.push(await libraryRound());
  ours.push(await openBaseRound());
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const lib = median(library);
const own = median(ours);
console.log(`node ${process.version}, ${count} seals of ${size} bytes, ${rounds} rounds (median)`);
console.log(`@hpke/core open: ${lib.toFixed(1)} µs/open`);
console.log(`openBase:        ${own.toFixed(1)} µs/open`);
console.log(
  `ratio:           ${(lib / own).toFixed(2)}x faster (${((1 - own / lib) * 100).toFixed(0)}% less time per open)`,
);
