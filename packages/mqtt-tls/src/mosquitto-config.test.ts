// The generated mosquitto.conf: mTLS only, identities from certificates, no plaintext unless asked.
import { describe, expect, it } from 'vitest';
import { MqttConfigError, mosquittoAcl, mosquittoConfig } from './index.js';

const files = {
  caFile: '/pki/ca.crt',
  serverCertFile: '/pki/server.crt',
  serverKeyFile: '/pki/server.key',
  aclFile: '/pki/devices.acl',
  crlFile: '/pki/ca.crl',
};

describe('mosquittoConfig', () => {
  it('writes one mTLS device listener with identity from the certificate and the ACL', () => {
    const text = mosquittoConfig(files, { port: 9883, bindAddress: '127.0.0.1' });
    const lines = text.split('\n');
    expect(lines).toContain('per_listener_settings true');
    expect(lines).toContain('listener 9883 127.0.0.1');
    for (const line of [
      'require_certificate true',
      'use_identity_as_username true',
      'use_username_as_clientid true',
      'tls_version tlsv1.2',
      'allow_anonymous false',
      'acl_file /pki/devices.acl',
      'crlfile /pki/ca.crl',
      'max_packet_size 262144',
    ]) {
      expect(lines).toContain(line);
    }
    expect(lines.filter((line) => line.startsWith('listener '))).toHaveLength(1);
  });

  it('puts use_username_as_clientid inside the listener block, never at top level', () => {
    const text = mosquittoConfig(files);
    expect(text.indexOf('use_username_as_clientid')).toBeGreaterThan(text.indexOf('listener 8883'));
  });

  it('adds a password listener for services and a plaintext one only when asked', () => {
    const withServices = {
      ...files,
      passwordFile: '/pki/passwd',
      servicesAclFile: '/pki/services.acl',
    };
    expect(mosquittoConfig(withServices, { servicePort: 9884 })).toContain('listener 9884\n');
    expect(mosquittoConfig(withServices)).not.toContain('127.0.0.1\nallow_anonymous');
    const plaintext = mosquittoConfig(withServices, { plaintextPort: 1883 });
    expect(plaintext).toContain(
      'listener 1883 127.0.0.1\nallow_anonymous false\npassword_file /pki/passwd',
    );
    expect(() => mosquittoConfig(files, { plaintextPort: 1883 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_MQTT_INSECURE' }),
    );
  });

  it('refuses bad ports, addresses, paths and unknown options', () => {
    expect(() => mosquittoConfig(files, { port: 0 })).toThrow(MqttConfigError);
    expect(() => mosquittoConfig(files, { bindAddress: 'localhost' })).toThrow(MqttConfigError);
    expect(() => mosquittoConfig({ ...files, aclFile: '/x\nallow_anonymous true' })).toThrow(
      MqttConfigError,
    );
    expect(() => mosquittoConfig(files, { listener: 1 } as never)).toThrow(
      /unknown option "listener"/,
    );
  });

  it('writes the device ACL rule', () => {
    expect(mosquittoAcl()).toContain('pattern readwrite devices/%u/#');
  });
});
