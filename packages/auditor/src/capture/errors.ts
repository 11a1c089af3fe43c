/**
 * The one error the capture readers throw. Its code is stable, so that the
 * CLI and the report can say what went wrong without parsing the message:
 *
 * - `capture.unreadable`: not a capture (or a corrupt one); the message names the byte offset;
 * - `capture.truncated`: the file ends inside a record; every complete packet was yielded first;
 * - `capture.unsupported`: a capture, but of a kind this reader does not decode (link type, compression).
 */

/** The codes a CaptureError can carry. */
export type CaptureErrorCode = "capture.unreadable" | "capture.truncated" | "capture.unsupported";

/** An expected failure while reading a capture, with a stable code. */
export class CaptureError extends Error {
  readonly code: CaptureErrorCode;

  constructor(code: CaptureErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CaptureError";
    this.code = code;
  }
}

/** True when `value` is a CaptureError with the given code (or any code). */
export function isCaptureError(value: unknown, code?: CaptureErrorCode): value is CaptureError {
  return value instanceof CaptureError && (code === undefined || value.code === code);
}
