// Random (version 4) UUIDs for trace ids, made in batches.
import { randomFillSync } from 'node:crypto';

// crypto.randomUUID() also draws on a buffer of random bytes, but builds each id from twenty
// pieces of string, which V8 must join into one before the id can be checked, written as a
// header or logged. Here a batch of ids is written out as text at once, from the same
// cryptographically secure bytes, and each id is read out as one string. The batch's bytes and
// text are two buffers of 2 KiB and 4.5 KiB.
const BATCH = 128;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const DASH = 0x2d;
const bytes = Buffer.alloc(16 * BATCH);
const text = Buffer.alloc(36 * BATCH);
let next = BATCH;

function refill(): void {
  randomFillSync(bytes);
  for (let id = 0; id < BATCH; id++) {
    let at = id * 36;
    for (let i = 0; i < 16; i++) {
      // 8-4-4-4-12 hexadecimal digits.
      if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = DASH;
      let byte = bytes[id * 16 + i]!;
      // RFC 9562: version 4 in the high half of byte 6, variant 10 in the top bits of byte 8.
      if (i === 6) byte = (byte & 0x0f) | 0x40;
      else if (i === 8) byte = (byte & 0x3f) | 0x80;
      text[at++] = HEX_DIGITS[byte >> 4]!;
      text[at++] = HEX_DIGITS[byte & 0x0f]!;
    }
  }
  // The bytes are in the text now; they are not kept twice.
  bytes.fill(0);
  next = 0;
}

/**
 * A new random UUID (version 4, RFC 9562) in lower case, such as crypto.randomUUID() returns,
 * from crypto.randomFillSync's bytes.
 */
export function randomTraceId(): string {
  if (next === BATCH) refill();
  const start = next * 36;
  next++;
  return text.toString('latin1', start, start + 36);
}
