// exactOrigin(): only scheme, host and port count as an origin.
import { describe, expect, it } from 'vitest';
import { exactOrigin } from './origins.js';

describe('exactOrigin', () => {
  it('normalises exact origins as browsers send them', () => {
    expect(exactOrigin('https://App.Example.com')).toBe('https://app.example.com');
    expect(exactOrigin('https://app.example.com:443/')).toBe('https://app.example.com');
    expect(exactOrigin('http://localhost:5173')).toBe('http://localhost:5173');
  });

  it('refuses paths, queries, credentials, wildcards and other schemes', () => {
    for (const bad of [
      'https://app.example.com/x',
      'https://app.example.com?x',
      'https://u:p@app.example.com',
      'https://*.example.com',
      'ftp://app.example.com',
      'app.example.com',
      'null',
      42,
    ]) {
      expect(exactOrigin(bad), String(bad)).toBeUndefined();
    }
  });
});
