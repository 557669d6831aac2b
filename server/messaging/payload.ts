/** What handlers and the HTTP API may send: text, bytes, or anything JSON can carry. */
export type Payload = string | Uint8Array | Record<string, unknown> | unknown[] | number | boolean | null;

/** Spring's converters: String → text/plain, byte[] → application/octet-stream, objects → JSON. */
export function toBody(payload: Payload): { body: Buffer; contentType: string } {
  if (typeof payload === 'string') return { body: Buffer.from(payload), contentType: 'text/plain;charset=UTF-8' };
  if (payload instanceof Uint8Array) {
    return {
      body: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      contentType: 'application/octet-stream',
    };
  }
  return { body: Buffer.from(JSON.stringify(payload)), contentType: 'application/json' };
}
