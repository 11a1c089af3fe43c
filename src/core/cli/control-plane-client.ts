/**
 * How a CLI command calls a running service's API: the control plane at the
 * configured URL, or a region's collector at its URL, with the service token
 * from the data directory, or an operator's session token where the step is
 * a person's. A coded refusal comes back as the same coded error; a service
 * that does not answer is `service.unavailable`, naming where it was looked for.
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
  return callService(
    config,
    { url: config.controlPlane.url, name: "the control plane" },
    method,
    path,
    options,
  );
}

/** Calls `method path` on a region's collector (at its configured URL), with the service token. */
export async function callCollector(
  config: Config,
  region: string,
  method: "GET" | "POST",
  path: string,
  options: { body?: unknown } = {},
): Promise<{ text: string; contentType: string }> {
  const found = config.regions.find((r) => r.id === region);
  if (found === undefined) {
    throw new PhoneHomeError("request.invalid", `no region ${region} in the configuration`, {
      path: "--region",
    });
  }
  return callService(
    config,
    { url: found.url, name: `the collector of region ${region}` },
    method,
    path,
    options,
  );
}

async function callService(
  config: Config,
  service: { url: string; name: string },
  method: "GET" | "POST" | "DELETE",
  path: string,
  options: { body?: unknown; token?: string },
): Promise<{ text: string; contentType: string }> {
  const url = `${service.url}${path}`;
  const headers: Record<string, string> = {
    authorization: `Bearer ${options.token ?? loadServiceToken(config.dataDir)}`,
  };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    // Every external call has a timeout (STYLE.md 15).
    signal: AbortSignal.timeout(30_000),
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  }).catch((cause: unknown) => {
    throw new PhoneHomeError(
      "service.unavailable",
      `${service.name} does not answer at ${service.url} (${(cause as Error).message}); start it with \`npm start\``,
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
