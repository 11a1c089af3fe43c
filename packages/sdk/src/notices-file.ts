/** The notices of incidents a device has received, kept in `notices.json` in its queue directory. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type IncidentNotice, NOTICES_FILE } from "./client-types.ts";
import { writeFileAtomic } from "./files.ts";

/** The notices kept in `dir`; none when the file is missing or unreadable. */
export async function readNotices(dir: string): Promise<IncidentNotice[]> {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(dir, NOTICES_FILE), "utf8"));
    return Array.isArray(parsed) ? (parsed as IncidentNotice[]) : [];
  } catch {
    return [];
  }
}

/**
 * Keeps the notices of an answer (`value`, as the region sent it) that `dir`
 * does not hold yet, received at `receivedAt`; answers those. An item that is
 * not a whole notice is left out.
 */
export async function keepNewNotices(
  dir: string,
  value: unknown,
  receivedAt: string,
): Promise<IncidentNotice[]> {
  if (!Array.isArray(value) || value.length === 0) return [];
  const held = await readNotices(dir);
  const ids = new Set(held.map((n) => n.id));
  const fresh: IncidentNotice[] = [];
  for (const item of value) {
    const n = item as Record<string, unknown>;
    const [id, incident, title, body, sentAt] = [n.id, n.incident, n.title, n.body, n.sentAt];
    if (typeof id !== "string" || ids.has(id)) continue;
    if (typeof incident !== "string" || typeof title !== "string" || typeof body !== "string") continue;
    if (typeof sentAt !== "string") continue;
    ids.add(id);
    fresh.push({ id, incident, title, body, sentAt, receivedAt });
  }
  if (fresh.length > 0) {
    await writeFileAtomic(join(dir, NOTICES_FILE), `${JSON.stringify([...held, ...fresh])}\n`, 0o600);
  }
  return fresh;
}
