/**
 * How a CLI command calls the running control plane's API: at the configured
 * URL, with the service token from the data directory, or an operator's
 * session token where the step is a person's. A coded refusal comes back as
 * the same coded error; a control plane that does not answer is
 * `service.unavailable`, naming where it was looked for.
 */
import type { Config } from "../config/index.ts";
import { ERRORS, type ErrorCode, PhoneHomeError } from "../errors/index.ts";
import { loadServiceToken } from "../keys/index.ts";

/** Calls `method path` on the control plane; resolves with the answer's body as text. */
export async function callControlPlane(
  config: Config,
  method: "GET" | "POST" | "DELETE",
  path: string,
  options: { body?: unknown; token?: string } = {},
): Promise<{ text: string; contentType: string }> {
  const url = `${config.controlPlane.url}${path}`;
  const headers: Record<string, string> = {
    authorization: `Bearer ${options.token ?? loadServiceToken(config.dataDir)}`,
  };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  }).catch((cause: unknown) => {
    throw new PhoneHomeError(
      "service.unavailable",
      `the control plane does not answer at ${config.controlPlane.url} (${(cause as Error).message}); start it with \`npm start\``,
      { cause },
    );
  });
  const text = await response.text();
  if (response.ok) return { text, contentType: response.headers.get("content-type") ?? "" };
  let error: { code?: string; message?: string; path?: string } | undefined;
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error;
  } catch {
    // Not one of ours: reported by status below.
  }
  if (error?.code !== undefined && error.code in ERRORS) {
    throw new PhoneHomeError(error.code as ErrorCode, error.message ?? `${method} ${url} was refused`, {
      path: error.path,
    });
  }
  throw new PhoneHomeError("service.unavailable", `${method} ${url} answered ${response.status}`);
}
