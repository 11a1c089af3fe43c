/**
 * The recursive decoder: bytes or text → every value inside, each as a Leaf
 * with the path of decodings and keys that reached it (URL query and form
 * parameters, percent-escapes, JSON, XML-ish elements, base64, hex,
 * gzip/zlib, JWTs). Also the leaves of whole HTTP requests and responses.
 */
import type { HttpRequest, HttpResponse } from "../protocols/http.ts";
import type { Leaf } from "../types.ts";
import { requestInto, responseInto } from "./http-leaves.ts";
import { newWalk, walkBytes, walkText, type Walk } from "./walk.ts";

export { MAX_INFLATED } from "./inflate.ts";

/** Limits of one decoding. */
export interface DecodeOptions {
  /** How many decoding steps below the starting path (default 6). */
  maxDepth?: number;
  /** Stop after this many leaves (default 10 000). */
  maxLeaves?: number;
  /** The key the data sits under, if any (lower-cased into Leaf.key). */
  key?: string;
}

const DEFAULT_MAX_DEPTH = 6;
const DEFAULT_MAX_LEAVES = 10_000;

function walkFor(options: DecodeOptions | undefined): Walk {
  return newWalk(options?.maxDepth ?? DEFAULT_MAX_DEPTH, options?.maxLeaves ?? DEFAULT_MAX_LEAVES);
}

/** Every value in `data`, the data itself first, each with its path starting at `path`. */
export function decode(data: Uint8Array | string, path: string[], options?: DecodeOptions): Leaf[] {
  const walk = walkFor(options);
  const at = { path: [...path], key: options?.key?.toLowerCase(), encoded: false, depth: 0 };
  if (typeof data === "string") walkText(walk, data, at, true);
  else walkBytes(walk, data, at);
  return walk.leaves;
}

/** Leaves of a request: ["target"] and its query (["target", "query.NAME"]), ["header.NAME"], ["body", …]. */
export function httpLeaves(request: HttpRequest, options?: DecodeOptions): Leaf[] {
  const walk = walkFor(options);
  requestInto(walk, request);
  return walk.leaves;
}

/** Leaves of a response: ["header.NAME"] (set-cookie split into cookie.NAME) and ["body", …]. */
export function responseLeaves(response: HttpResponse, options?: DecodeOptions): Leaf[] {
  const walk = walkFor(options);
  responseInto(walk, response);
  return walk.leaves;
}
