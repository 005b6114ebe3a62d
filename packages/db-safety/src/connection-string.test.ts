// inspectConnectionString reads TLS, passwords and overriding parameters the way pg will use them.
import { describe, expect, it } from 'vitest';
import { inspectConnectionString } from './connection-string.js';

const inspect = (connectionString: string | undefined) =>
  inspectConnectionString('createPool', connectionString);

describe('inspectConnectionString', () => {
  it('reports no TLS setting when the connection string has none', () => {
    expect(inspect(undefined)).toEqual({
      tlsParameters: '',
      hasPassword: false,
      hasPasswordParameter: false,
    });
    expect(inspect('postgres://app@db.internal:5432/app')).toMatchObject({
      host: 'db.internal',
      hasPassword: false,
    });
    expect(inspect('postgres://app@db/app').tls).toBeUndefined();
    expect(inspect('/var/run/postgresql app').tls).toBeUndefined();
  });

  it('reads TLS as pg does: the last word wins, ssl=0 is off, uselibpqcompat weakens require', () => {
    expect(inspect('postgres://db/app?ssl=true').tls).toBe('verified');
    expect(inspect('postgres://db/app?ssl=1').tls).toBe('verified');
    expect(inspect('postgres://db/app?ssl=0').tls).toBe('off');
    expect(inspect('postgres://db/app?ssl=').tls).toBe('off');
    expect(inspect('postgres://db/app?ssl=no-verify').tls).toBe('unverified');
    expect(inspect('postgres://db/app?ssl=0&sslmode=verify-full').tls).toBe('verified');
    expect(inspect('postgres://db/app?sslmode=disable').tls).toBe('off');
    expect(inspect('postgres://db/app?sslmode=no-verify').tls).toBe('unverified');
    expect(inspect('postgres://db/app?uselibpqcompat=true&sslmode=require').tls).toBe('unverified');
    expect(inspect('postgres://db/app?sslnegotiation=direct').tls).toBe('verified');
  });

  it('names the TLS parameters as written, for messages', () => {
    expect(
      inspect('postgres://db/app?application_name=x&uselibpqcompat=true&sslmode=require'),
    ).toMatchObject({ tlsParameters: 'uselibpqcompat=true&sslmode=require', sslmode: 'require' });
  });

  it('refuses a parameter given twice, and those that override the pool settings', () => {
    for (const params of [
      'sslmode=verify-full&sslmode=disable',
      'application_name=a&application_name=b',
      'statement_timeout=0',
      'lock_timeout=0',
      'idle_in_transaction_session_timeout=0',
      'query_timeout=1',
      'options=-c%20statement_timeout%3D0',
    ]) {
      expect(() => inspect(`postgres://db/app?${params}`)).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_DB_CONNECTION_PARAMETER' }),
      );
    }
  });

  it('tells a password parameter from one in the user-info part', () => {
    expect(inspect('postgres://app:pw@db/app')).toMatchObject({
      hasPassword: true,
      hasPasswordParameter: false,
    });
    expect(inspect('postgres://app@db/app?password=pw')).toMatchObject({
      hasPassword: false,
      hasPasswordParameter: true,
    });
  });
});
