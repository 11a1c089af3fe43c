/**
 * The service tokens a process presents and accepts: the presented one
 * always; a staged one; the previous one until its overlap ends, then not;
 * the files re-read on demand (the timer and SIGHUP call the same), a damaged
 * file leaving the last good state in force; no token in the fingerprints.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { secretFingerprint } from "./fingerprints.ts";
import {
  acceptedAt,
  promoteServiceToken,
  readTokenFiles,
  serviceTokenFingerprint,
  serviceTokens,
  stageServiceToken,
} from "./service-tokens.ts";

const root = mkdtempSync(join(tmpdir(), "phonehome-service-tokens-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("a staged token is accepted, not presented; after the switch the previous one is accepted until its end", () => {
  const dir = join(root, "rotation");
  const tokens = serviceTokens(dir);
  const first = tokens.current();
  assert.ok(tokens.accepts(first));
  assert.ok(!tokens.accepts(undefined));
  assert.ok(!tokens.accepts(`${first}x`));

  const staged = stageServiceToken(dir, "a-staged-token-of-more-than-16");
  assert.deepEqual(staged, { staged: secretFingerprint("a-staged-token-of-more-than-16"), created: true });
  assert.equal(stageServiceToken(dir).created, false, "staging twice keeps the first");
  assert.equal(tokens.reload(), null);
  assert.equal(tokens.current(), first, "a staged token is not presented");
  assert.ok(tokens.accepts("a-staged-token-of-more-than-16"));

  const now = new Date();
  const rotation = promoteServiceToken(dir, 60_000, now);
  assert.equal(rotation.until, new Date(now.getTime() + 60_000).toISOString());
  tokens.reload();
  assert.equal(tokens.current(), "a-staged-token-of-more-than-16");
  assert.ok(tokens.accepts(first), "the previous token during the overlap");
  const files = readTokenFiles(dir);
  assert.deepEqual(acceptedAt(files, now.getTime() + 59_999), ["a-staged-token-of-more-than-16", first]);
  assert.deepEqual(acceptedAt(files, now.getTime() + 60_000), ["a-staged-token-of-more-than-16"]);
  assert.deepEqual(files.replaced, [secretFingerprint(first)]);
  const reported = serviceTokenFingerprint(files, now.getTime());
  assert.ok(!JSON.stringify(reported).includes(first), "fingerprints only");
  assert.ok(reported.replaces.includes(secretFingerprint(first)));
  assert.throws(() => promoteServiceToken(dir, 60_000), /no staged service token/);
});

test("the previous token is refused once the overlap has ended, without a re-read", async () => {
  const dir = join(root, "short");
  const tokens = serviceTokens(dir);
  const first = tokens.current();
  stageServiceToken(dir);
  promoteServiceToken(dir, 1500);
  tokens.reload();
  assert.ok(tokens.accepts(first));
  await new Promise((resolve) => setTimeout(resolve, 2600));
  assert.ok(!tokens.accepts(first));
  assert.ok(tokens.accepts(tokens.current()));
});

test("a damaged file at a re-read leaves the last good state; at the first read it stops the start", () => {
  const dir = join(root, "damaged");
  const tokens = serviceTokens(dir);
  const first = tokens.current();
  writeFileSync(
    join(dir, "secrets", "service-tokens.json"),
    '{"accepted": [{"token": "short", "until": null}]}',
  );
  assert.match(String(tokens.reload()?.message), /is not a list of accepted service tokens/);
  assert.equal(tokens.current(), first);
  assert.ok(!tokens.accepts("short"));
  // A process starting now (a fresh reader of the same files) refuses to start.
  assert.throws(() => readTokenFiles(dir), /is not a list of accepted service tokens/);
});

test("a promotion cut short after the switch leaves the staged token accepted, and promoting again finishes it", () => {
  const dir = join(root, "cut-short");
  const tokens = serviceTokens(dir);
  const first = tokens.current();
  stageServiceToken(dir, "a-token-staged-before-the-cut-1");
  const now = new Date();
  // What the first of promotion's writes leaves: the previous token with its end, the staged one kept.
  const files = readTokenFiles(dir);
  writeFileSync(
    join(dir, "secrets", "service-tokens.json"),
    JSON.stringify({
      accepted: [...files.accepted, { token: first, until: new Date(now.getTime() + 60_000).toISOString() }],
      replaced: [secretFingerprint(first)],
    }),
  );
  tokens.reload();
  assert.ok(tokens.accepts("a-token-staged-before-the-cut-1"), "still accepted between the writes");
  assert.ok(tokens.accepts(first));
  // Then the switch, and a crash before the last write: the staged entry is the presented token.
  writeFileSync(join(dir, "secrets", "service-token"), "a-token-staged-before-the-cut-1");
  tokens.reload();
  assert.equal(tokens.current(), "a-token-staged-before-the-cut-1");
  assert.equal(
    stageServiceToken(dir, "a-new-token-staged-after-the-cut").created,
    true,
    "not taken as staged",
  );
  const rotation = promoteServiceToken(dir, 60_000, now);
  assert.equal(rotation.current, secretFingerprint("a-token-staged-before-the-cut-1"));
  tokens.reload();
  assert.equal(tokens.current(), "a-token-staged-before-the-cut-1");
  assert.ok(tokens.accepts(first), "the previous token keeps its overlap");
  assert.ok(tokens.accepts("a-new-token-staged-after-the-cut"), "the token staged since stays staged");
  assert.equal(
    readTokenFiles(dir).accepted.filter((t) => t.token === "a-token-staged-before-the-cut-1").length,
    0,
    "the presented token is no longer listed as staged",
  );
});
