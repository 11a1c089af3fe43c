/**
 * How the web apps call phonehome's documented HTTP APIs: JSON in and out, a
 * bearer token where one is needed, and every refusal as an `ApiError` with
 * the error catalogue's code and message, to show as it is.
 */

/** A refusal from an API, or a service that could not be reached. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** Calls `method url` and answers the JSON body; throws `ApiError`. */
export async function api<T>(
  url: string,
  options: { method?: string; token?: string; body?: unknown } = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(url, {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(
      "service.unavailable",
      0,
      `${new URL(url).host} could not be reached; try again later`,
    );
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text === "" ? null : JSON.parse(text);
  } catch {
    // Not JSON: reported by status below.
  }
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(
      error?.code ?? "service.unavailable",
      response.status,
      error?.message ?? `${new URL(url).host} answered ${response.status}`,
    );
  }
  return body as T;
}

/** Offers `value` as a JSON file to save. */
export function download(name: string, value: unknown): void {
  const url = URL.createObjectURL(
    new Blob([`${JSON.stringify(value, null, 2)}\n`], { type: "application/json" }),
  );
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}
