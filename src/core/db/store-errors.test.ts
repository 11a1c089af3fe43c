import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isPhoneHomeError, PhoneHomeError } from "../errors/index.ts";
import { asStoreError, isStoreUnavailable } from "./store-errors.ts";

const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code });

describe("isStoreUnavailable", () => {
  it("names a store that is unreachable, going away, too slow or out of resources", () => {
    for (const error of [
      withCode("ECONNREFUSED"),
      withCode("ECONNRESET"),
      withCode("08006"), // connection failure
      withCode("57P01"), // terminating connection due to administrator command
      withCode("57P03"), // the database system is starting up
      withCode("57014"), // canceling statement due to statement timeout
      withCode("53300"), // too many connections
      withCode("25006"), // read-only transaction: a standby not yet promoted
      withCode("40001"), // serialization failure
      new Error("Connection terminated unexpectedly"),
      new Error("timeout exceeded when trying to connect"),
      new Error("Query read timeout"),
      new Error("Client has encountered a connection error and is not queryable"),
      new PhoneHomeError("service.unavailable", "down"),
    ]) {
      assert.equal(
        isStoreUnavailable(error),
        true,
        String((error as { code?: string }).code ?? error.message),
      );
    }
  });

  it("leaves faults of the statement itself to their own handling", () => {
    for (const error of [
      withCode("22021"), // invalid byte sequence (a NUL in text)
      withCode("22P02"), // invalid text representation
      withCode("23505"), // unique violation
      withCode("22003"), // numeric value out of range
      withCode("42P01"), // undefined table
      new RangeError("COPY cannot carry an invalid date"),
      new PhoneHomeError("request.invalid", "bad"),
      "a string",
      null,
    ]) {
      assert.equal(isStoreUnavailable(error), false, String(error));
    }
  });
});

describe("asStoreError", () => {
  it("turns an unreachable store into service.unavailable, keeping the cause, and passes others through", () => {
    const cut = withCode("57P01", "terminating connection due to administrator command");
    const mapped = asStoreError(cut);
    assert.ok(isPhoneHomeError(mapped, "service.unavailable"));
    assert.equal(mapped.cause, cut);
    assert.match(mapped.message, /57P01/);
    const nul = withCode("22021");
    assert.equal(asStoreError(nul), nul);
  });
});
