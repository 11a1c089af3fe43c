/** What a schema holds, for a restore that must not replace a store unasked. */
import type { Queryable } from "./store.ts";

/** Whether `schema` exists, and how many relations (tables, sequences, indexes…) and functions it holds. */
export async function schemaContents(
  q: Queryable,
  schema: string,
): Promise<{ exists: boolean; objects: number }> {
  const { rows } = await q.query<{ exists: boolean; objects: number }>(
    `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists,
            (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1)
          + (SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1)
            AS objects`,
    [schema],
  );
  return rows[0] ?? { exists: false, objects: 0 };
}
