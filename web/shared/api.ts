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

interface CallOptions {
  method?: string;
  token?: string;
  body?: unknown;
}

/** Calls `method url` and answers the JSON body; throws `ApiError`. */
export async function api<T>(url: string, options: CallOptions = {}): Promise<T> {
  const text = await apiText(url, options);
  return (text === "" ? null : JSON.parse(text)) as T;
}

/** Calls `method url` and answers the body as text (a report in Markdown); throws `ApiError`. */
export async function apiText(url: string, options: CallOptions = {}): Promise<string> {
  const host = new URL(url, location.href).host;
  const headers: Record<string, string> = {};
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
    throw new ApiError("service.unavailable", 0, `${host} could not be reached; try again later`);
  }
  const text = await response.text();
  if (!response.ok) {
    let error: { code?: string; message?: string } | undefined;
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error;
    } catch {
      // Not one of ours: reported by status below.
    }
    throw new ApiError(
      error?.code ?? "service.unavailable",
      response.status,
      error?.message ?? `${host} answered ${response.status}`,
    );
  }
  return text;
}

/** Offers `value` as a file to save: text as it is, anything else as JSON. */
export function download(name: string, value: unknown): void {
  const [content, type] =
    typeof value === "string"
      ? [value, "text/markdown"]
      : [`${JSON.stringify(value, null, 2)}\n`, "application/json"];
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}
