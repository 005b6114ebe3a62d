// Client addresses as counter keys: IPv4-mapped IPv6 unwrapped, IPv6 grouped by subnet.
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The key for a client address. IPv4 stays as it is; `::ffff:203.0.113.7` becomes
 * `203.0.113.7`, so one client is not counted twice when a dual-stack socket reports it either
 * way; IPv6 becomes its network prefix (`2001:db8:ab00::/56`), because one subscriber usually
 * holds a whole /56 or /64 and could otherwise rotate through addresses to dodge the limit.
 * Returns `undefined` for a value that is not an IP address.
 */
export function ipKey(ip: string | undefined, ipv6Subnet: number): string | undefined {
  if (!ip) return undefined;
  // Dotted-quad IPv4 (what a socket reports) is already in the form ipaddr.js would print.
  if (isIPv4(ip)) return ip;
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(ip);
  } catch {
    return undefined;
  }
  if (address.kind() === 'ipv4') return address.toString();
  const bytes = address.toByteArray();
  for (let bit = ipv6Subnet; bit < 128; bit++) {
    const index = bit >> 3;
    bytes[index] = bytes[index]! & ~(0x80 >> (bit & 7));
  }
  const network = ipaddr.fromByteArray(bytes) as ipaddr.IPv6;
  return `${network.toRFC5952String()}/${ipv6Subnet}`;
}
