/**
 * Byte helpers shared by the decoder and the protocol readers: a Buffer view
 * of any Uint8Array (no copy), for Buffer's indexOf, toString and readers.
 */

/** A Buffer over the same memory as `data`; nothing is copied. */
export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
