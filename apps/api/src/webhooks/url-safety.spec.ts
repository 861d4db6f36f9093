import type { LookupAddress } from 'node:dns';

import { classifyAddress, type Resolve, urlShapeProblem, webhookUrlProblem } from './url-safety';

/** A resolver that answers from a table (and says NXDOMAIN for anything else). */
const table =
  (answers: Record<string, string[]>): Resolve =>
  async (host) => {
    const list = answers[host];
    if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return list.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('webhook address classification (ipaddr.js; only global unicast is allowed)', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'], // cloud metadata
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.254', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'ipv4Mapped→loopback'],
    ['::ffff:7f00:1', 'ipv4Mapped→loopback'], // what the URL parser makes of [::ffff:127.0.0.1]
    ['::ffff:a9fe:a9fe', 'ipv4Mapped→linkLocal'],
    ['::ffff:10.0.0.1', 'ipv4Mapped→private'],
    ['::ffff:0:7f00:1', 'rfc6145→loopback'],
    ['::7f00:1', 'ipv4Compatible→loopback'], // [::127.0.0.1] after the URL parser
    ['::a9fe:a9fe', 'ipv4Compatible→linkLocal'],
    ['64:ff9b::7f00:1', 'rfc6052→loopback'], // NAT64
    ['64:ff9b::a9fe:a9fe', 'rfc6052→linkLocal'],
    ['64:ff9b:1::7f00:1', 'rfc6052'], // local-use NAT64 prefix: where the IPv4 sits depends on the network
    ['2002:7f00:1::', '6to4→loopback'],
    ['2002:a9fe:a9fe::1', '6to4→linkLocal'],
    ['2002:c0a8:101::', '6to4→private'],
    ['2001::1', 'teredo'],
    ['2001:db8::1', 'reserved'],
    ['4000::1', 'unallocated'],
    ['100::1', 'discard'],
    ['not-an-address', 'invalid'],
  ])('refuses %s (%s)', (address, range) => {
    expect(classifyAddress(address)).toMatchObject({ range, allowed: false });
  });

  it.each([
    ['8.8.8.8', 'unicast'],
    ['172.32.0.1', 'unicast'],
    ['100.128.0.1', 'unicast'],
    ['2606:4700:4700::1111', 'unicast'],
    ['::ffff:8.8.8.8', 'ipv4Mapped→unicast'],
    ['64:ff9b::808:808', 'rfc6052→unicast'],
    ['2002:808:808::', '6to4→unicast'],
  ])('allows %s (%s)', (address, range) => {
    expect(classifyAddress(address)).toEqual(expect.objectContaining({ range, allowed: true }));
  });
});

describe('webhookUrlProblem (at create)', () => {
  const none = table({});

  it.each([
    'http://127.0.0.1:9/hook',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]:8080/internal-admin',
    'http://[::ffff:a9fe:a9fe]/latest/meta-data',
    'http://[64:ff9b::7f00:1]/',
    'http://[::127.0.0.1]/',
    'http://[2002:7f00:1::]/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    'http://[ff02::1]/',
    'http://169.254.169.254/latest/meta-data',
    'http://100.64.0.1/',
    'http://10.0.0.1/',
    'http://224.0.0.1/',
    'http://2130706433/', // decimal
    'http://0177.0.0.1/', // octal
    'http://0x7f000001/', // hex
    'http://127.1/', // short form
    'http://0/',
  ])('refuses %s', async (url) => {
    expect(await webhookUrlProblem(url, false, none)).toMatch(/points to .* is not a public address/);
  });

  it('refuses localhost by name without asking DNS', async () => {
    expect(await webhookUrlProblem('http://localhost:8080/', false, none)).toMatch(/localhost/);
    expect(await webhookUrlProblem('http://api.localhost/', false, none)).toMatch(/localhost/);
  });

  it('refuses a name that resolves to a private address, or to any private address among public ones', async () => {
    const dns = table({
      'internal.example.test': ['10.0.0.5'],
      'mixed.example.test': ['93.184.216.34', '127.0.0.1'],
      'v6.example.test': ['2606:4700:4700::1111', '::ffff:169.254.169.254'],
    });
    expect(await webhookUrlProblem('https://internal.example.test/h', false, dns)).toBe(
      "host 'internal.example.test' resolves to 10.0.0.5 is not a public address (private)",
    );
    expect(await webhookUrlProblem('https://mixed.example.test/h', false, dns)).toMatch(
      /127\.0\.0\.1.*loopback/,
    );
    expect(await webhookUrlProblem('https://v6.example.test/h', false, dns)).toMatch(/ipv4Mapped→linkLocal/);
  });

  it('accepts a name whose every address is public, and says when a name does not resolve', async () => {
    const dns = table({ 'hooks.example.test': ['93.184.216.34', '2606:2800:220:1::'] });
    expect(await webhookUrlProblem('https://hooks.example.test/h', false, dns)).toBeNull();
    expect(await webhookUrlProblem('https://gone.example.test/h', false, dns)).toMatch(/does not resolve/);
  });

  it('allows private targets when T2V_WEBHOOK_ALLOW_PRIVATE is set, never other schemes or credentials', async () => {
    expect(await webhookUrlProblem('http://127.0.0.1:9/hook', true, none)).toBeNull();
    expect(await webhookUrlProblem('ftp://example.com/x', true, none)).toMatch(/http or https/);
    expect(await webhookUrlProblem('https://user:pw@example.com/x', true, none)).toMatch(/credentials/);
    expect(urlShapeProblem('not a url')).toMatch(/not a valid URL/);
  });
});
