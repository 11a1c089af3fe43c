import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes, randomInt } from "node:crypto";
import { describe, it } from "node:test";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { decap, deriveBaseContext, importRecipientKey, openBase, type RecipientKey } from "./hpke.ts";

const hex = (text: string) => Buffer.from(text, "hex");

/** RFC 9180 Appendix A.1.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base) and A.1.1.1 sequence 0. */
const RFC = {
  info: hex("4f6465206f6e2061204772656369616e2055726e"),
  ikmE: hex("7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234"),
  pkRm: hex("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d"),
  skRm: hex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8"),
  enc: hex("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"),
  sharedSecret: hex("fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc"),
  key: hex("4531685d41d65f03dc48f6b8302c05b0"),
  baseNonce: hex("56d890e5accaaf011cff4b7d"),
  pt: hex("4265617574792069732074727574682c20747275746820626561757479"),
  aad: hex("436f756e742d30"),
  ct: hex("f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"),
};

/** The suite devices seal with, as the SDK builds it. */
const library = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});

const ab = (bytes: Uint8Array): ArrayBuffer => {
  const out = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(out).set(bytes);
  return out;
};

/** A region key pair made by the library, as `loadRegionKeys` makes one: raw private bytes and public bytes. */
async function libraryKeyPair(): Promise<{ raw: Buffer; publicRaw: Buffer; recipient: RecipientKey }> {
  const pair = await library.kem.generateKeyPair();
  const raw = Buffer.from(await library.kem.serializePrivateKey(pair.privateKey));
  const publicRaw = Buffer.from(await library.kem.serializePublicKey(pair.publicKey));
  return { raw, publicRaw, recipient: importRecipientKey(raw) };
}

/** Seals `pt` with the library to a raw public key, as a device does. */
async function librarySeal(
  publicRaw: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  pt: Uint8Array,
): Promise<{ enc: Buffer; ct: Buffer }> {
  const sender = await library.createSenderContext({
    recipientPublicKey: await library.kem.deserializePublicKey(ab(publicRaw)),
    info: ab(info),
  });
  const ct = await sender.seal(ab(pt), ab(aad));
  return { enc: Buffer.from(sender.enc), ct: Buffer.from(ct) };
}

/** Opens with the library, or null when it refuses. */
async function libraryOpen(
  raw: Uint8Array,
  enc: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ct: Uint8Array,
): Promise<Buffer | null> {
  try {
    const recipient = await library.createRecipientContext({
      recipientKey: await library.kem.deserializePrivateKey(ab(raw)),
      enc: ab(enc),
      info: ab(info),
    });
    return Buffer.from(await recipient.open(ab(ct), ab(aad)));
  } catch {
    return null;
  }
}

describe("RFC 9180 Appendix A.1.1 (base mode, sequence number 0)", () => {
  const recipient = importRecipientKey(RFC.skRm);

  it("derives pkRm from skRm", () => {
    assert.deepEqual(recipient.publicKeyRaw, RFC.pkRm);
  });

  it("decapsulates enc to the RFC's shared_secret", async () => {
    assert.deepEqual(await decap(recipient, RFC.enc), RFC.sharedSecret);
  });

  it("derives the RFC's key and base_nonce", () => {
    const { key, baseNonce } = deriveBaseContext(RFC.sharedSecret, RFC.info);
    assert.deepEqual(key, RFC.key);
    assert.deepEqual(baseNonce, RFC.baseNonce);
  });

  it("opens encryption 0 to the RFC's plaintext", async () => {
    assert.deepEqual(await openBase(recipient, RFC.enc, RFC.info, RFC.aad, RFC.ct), RFC.pt);
  });

  it("agrees with the library: it seals the RFC's ct from ikmE, and opens it", async () => {
    const sender = await library.createSenderContext({
      recipientPublicKey: await library.kem.deserializePublicKey(ab(RFC.pkRm)),
      info: ab(RFC.info),
      ekm: ab(RFC.ikmE),
    });
    assert.deepEqual(Buffer.from(sender.enc), RFC.enc);
    assert.deepEqual(Buffer.from(await sender.seal(ab(RFC.pt), ab(RFC.aad))), RFC.ct);
    assert.deepEqual(await libraryOpen(RFC.skRm, RFC.enc, RFC.info, RFC.aad, RFC.ct), RFC.pt);
  });
});

describe("interop with @hpke/core", () => {
  it("opens 200 random seals of the library (0-4096 bytes, random info and aad) to the same bytes", async () => {
    const keys = await libraryKeyPair();
    for (let i = 0; i < 200; i += 1) {
      const pt = randomBytes(i === 0 ? 0 : randomInt(0, 4097));
      const info = randomBytes(randomInt(0, 65));
      const aad = randomBytes(randomInt(0, 257));
      const { enc, ct } = await librarySeal(keys.publicRaw, info, aad, pt);
      assert.deepEqual(
        await openBase(keys.recipient, enc, info, aad, ct),
        pt,
        `payload ${i} (${pt.length} bytes)`,
      );
    }
  });

  it("opens seals of two infos in turn (the key schedule keeps the last info's context)", async () => {
    const keys = await libraryKeyPair();
    const infos = [Buffer.from("phonehome/v1 region=global"), Buffer.from("phonehome/v1 region=cn")];
    const aad = Buffer.from("header");
    for (let i = 0; i < 12; i += 1) {
      const info = infos[i % 3 === 0 ? 0 : 1] ?? Buffer.alloc(0);
      const pt = randomBytes(64);
      const { enc, ct } = await librarySeal(keys.publicRaw, info, aad, pt);
      assert.deepEqual(await openBase(keys.recipient, enc, info, aad, ct), pt, `seal ${i}`);
      const other = infos[i % 3 === 0 ? 1 : 0] ?? Buffer.alloc(0);
      await assert.rejects(openBase(keys.recipient, enc, other, aad, ct), /does not authenticate/);
    }
  });

  it("imports the library's key files: the same public key, for many keys", async () => {
    for (let i = 0; i < 20; i += 1) {
      const keys = await libraryKeyPair();
      assert.deepEqual(keys.recipient.publicKeyRaw, keys.publicRaw);
    }
  });

  it("opens what the library seals to a key made by node:crypto", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("x25519");
    const jwk = privateKey.export({ format: "jwk" });
    assert.ok(jwk.d !== undefined && jwk.x !== undefined);
    const recipient = importRecipientKey(Buffer.from(jwk.d, "base64url"));
    assert.deepEqual(recipient.publicKeyRaw, Buffer.from(jwk.x, "base64url"));
    assert.deepEqual(publicKey.export({ format: "jwk" }).x, jwk.x);
    const info = Buffer.from("phonehome/v1 region=global");
    const aad = Buffer.from("header");
    const pt = Buffer.from('{"serial":"X"}');
    const { enc, ct } = await librarySeal(recipient.publicKeyRaw, info, aad, pt);
    assert.deepEqual(await openBase(recipient, enc, info, aad, ct), pt);
  });
});

describe("refusals", async () => {
  const keys = await libraryKeyPair();
  const info = Buffer.from("phonehome/v1 region=global");
  const aad = Buffer.from("phonehome-envelope\n1\nactivation");
  const pt = Buffer.from(JSON.stringify({ serial: "SN-1", model: "7 Plus", padding: "x".repeat(100) }));
  const { enc, ct } = await librarySeal(keys.publicRaw, info, aad, pt);

  /** Asserts that `openBase` throws a plain Error and that the library refuses the same input. */
  async function refused(
    what: string,
    input: {
      recipient?: RecipientKey;
      raw?: Uint8Array;
      enc?: Uint8Array;
      info?: Uint8Array;
      aad?: Uint8Array;
      ct?: Uint8Array;
    },
    message: RegExp,
  ) {
    const args = [input.enc ?? enc, input.info ?? info, input.aad ?? aad, input.ct ?? ct] as const;
    await assert.rejects(
      openBase(input.recipient ?? keys.recipient, ...args),
      (error: unknown) =>
        error instanceof Error && error.constructor === Error && message.test(error.message),
      what,
    );
    assert.equal(await libraryOpen(input.raw ?? keys.raw, ...args), null, `the library opens ${what}`);
  }

  it("opens the untampered seal (the baseline of every refusal below)", async () => {
    assert.deepEqual(await openBase(keys.recipient, enc, info, aad, ct), pt);
  });

  it("refuses a ciphertext with one bit flipped, at the first, middle and last bytes and in the tag", async () => {
    for (const position of [0, 1, Math.floor(pt.length / 2), pt.length - 1, pt.length, ct.length - 1]) {
      for (const bit of [0x01, 0x80]) {
        const tampered = Buffer.from(ct);
        tampered[position] = (tampered[position] ?? 0) ^ bit;
        await refused(`ct with byte ${position} ^ ${bit}`, { ct: tampered }, /does not authenticate/);
      }
    }
  });

  it("refuses other associated data", async () => {
    const flipped = Buffer.from(aad);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    await refused("a changed aad", { aad: flipped }, /does not authenticate/);
    await refused("an empty aad", { aad: Buffer.alloc(0) }, /does not authenticate/);
    await refused("a longer aad", { aad: Buffer.concat([aad, Buffer.from([0])]) }, /does not authenticate/);
  });

  it("refuses another info (a seal for another region)", async () => {
    await refused(
      "info of region cn",
      { info: Buffer.from("phonehome/v1 region=cn") },
      /does not authenticate/,
    );
    await refused("an empty info", { info: Buffer.alloc(0) }, /does not authenticate/);
  });

  it("refuses with another recipient key", async () => {
    const other = await libraryKeyPair();
    await refused("another key", { recipient: other.recipient, raw: other.raw }, /does not authenticate/);
  });

  it("refuses truncated and extended ciphertexts", async () => {
    for (const length of [0, 1, 15, 16, ct.length - 16, ct.length - 1]) {
      await refused(
        `ct cut to ${length} bytes`,
        { ct: ct.subarray(0, length) },
        /shorter than its tag|does not authenticate/,
      );
    }
    await refused(
      "ct with a byte appended",
      { ct: Buffer.concat([ct, Buffer.from([0])]) },
      /does not authenticate/,
    );
  });

  it("refuses an enc of the wrong length", async () => {
    for (const length of [0, 31, 33, 65]) {
      const wrong = Buffer.alloc(length, 7);
      enc.copy(wrong, 0, 0, Math.min(length, enc.length));
      await refused(`enc of ${length} bytes`, { enc: wrong }, /enc must be 32 bytes/);
    }
  });

  it("refuses low-order points as enc (all-zero shared secret, RFC 9180 §7.1.4) instead of returning garbage", async () => {
    // The points of order 1, 2, 4 and 8 of Curve25519 and their non-canonical encodings (p, p + 1, ...).
    const lowOrder = [
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    for (const point of lowOrder) {
      await assert.rejects(decap(keys.recipient, hex(point)), /not a usable X25519 public key/, point);
      await refused(`low-order enc ${point}`, { enc: hex(point) }, /not a usable X25519 public key/);
    }
  });

  it("refuses a raw private key of the wrong length", () => {
    for (const length of [0, 31, 33]) {
      assert.throws(() => importRecipientKey(Buffer.alloc(length, 1)), /32 bytes/);
    }
  });

  it("names no secret in its errors", async () => {
    const tampered = Buffer.from(ct);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    try {
      await openBase(keys.recipient, enc, info, aad, tampered);
      assert.fail("opened a tampered seal");
    } catch (error) {
      const text = `${String(error)} ${JSON.stringify(error)}`;
      for (const secret of [keys.raw, pt, await decap(keys.recipient, enc)]) {
        for (const encoding of ["hex", "base64", "base64url"] as const) {
          assert.ok(!text.includes(secret.toString(encoding)), `the error names a secret (${encoding})`);
        }
      }
    }
  });
});
