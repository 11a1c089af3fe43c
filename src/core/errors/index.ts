import { ERRORS, type ErrorCode } from "./catalogue.ts";

export { ERRORS, type ErrorCode } from "./catalogue.ts";

/** The JSON shape of every error response: `{ error: { code, message, path? } }`. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; path?: string; problems?: Problem[] };
}

/** One problem in a list of problems (config, dictionary, factory file). */
export interface Problem {
  path: string;
  message: string;
}

/**
 * An expected failure with a stable code. Services throw it; the HTTP error
 * handler and the CLI present it. `path` is a JSON pointer or a file:line.
 */
export class PhoneHomeError extends Error {
  readonly code: ErrorCode;
  readonly path: string | undefined;
  readonly problems: Problem[] | undefined;
  /** For a refusal that ends by itself: the seconds to wait before trying again (HTTP `Retry-After`). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { path?: string; problems?: Problem[]; cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PhoneHomeError";
    this.code = code;
    this.path = options.path;
    this.problems = options.problems;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** HTTP status for this code, from the registry. */
  get status(): number {
    return ERRORS[this.code].status;
  }

  /** The response body. */
  toBody(): ErrorBody {
    const error: ErrorBody["error"] = { code: this.code, message: this.message };
    if (this.path !== undefined) error.path = this.path;
    if (this.problems !== undefined) error.problems = this.problems;
    return { error };
  }
}

/** True when `value` is a PhoneHomeError with the given code (or any code). */
export function isPhoneHomeError(value: unknown, code?: ErrorCode): value is PhoneHomeError {
  return value instanceof PhoneHomeError && (code === undefined || value.code === code);
}
