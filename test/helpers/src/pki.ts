// A small test PKI made with the openssl CLI: a CA, a server certificate and client certificates.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clients: Record<string, { certFile: string; keyFile: string }>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/**
 * Writes EC P-256 keys and certificates into `dir`. The server certificate carries the given
 * hosts as DNS or IP SANs; each client certificate has its id as CN.
 */
export function createTestPki(
  dir: string,
  {
    serverHosts = ['localhost', '127.0.0.1'],
    clients = ['device-1'],
    caName = 'Bulwark Test CA',
  } = {},
): TestPki {
  mkdirSync(dir, { recursive: true });
  const key = (name: string) =>
    openssl(
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name],
      dir,
    );
  key('ca.key');
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-sha256',
      '-days',
      '2',
      '-subj',
      `/CN=${caName}`,
      '-out',
      'ca.crt',
    ],
    dir,
  );
  const sign = (name: string, cn: string, ext: string) => {
    key(`${name}.key`);
    openssl(
      ['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`],
      dir,
    );
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-sha256',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      ],
      dir,
    );
  };
  const sans = serverHosts
    .map((host) => (/^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`))
    .join(',');
  sign(
    'server',
    serverHosts[0] ?? 'localhost',
    `subjectAltName=${sans}\nextendedKeyUsage=serverAuth\n`,
  );
  const clientFiles: TestPki['clients'] = {};
  for (const id of clients) {
    sign(`client-${id}`, id, 'extendedKeyUsage=clientAuth\n');
    clientFiles[id] = {
      certFile: join(dir, `client-${id}.crt`),
      keyFile: join(dir, `client-${id}.key`),
    };
  }
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    caKeyFile: join(dir, 'ca.key'),
    serverCertFile: join(dir, 'server.crt'),
    serverKeyFile: join(dir, 'server.key'),
    clients: clientFiles,
  };
}
