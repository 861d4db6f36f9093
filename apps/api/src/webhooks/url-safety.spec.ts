import { isPrivateAddress, webhookUrlProblem } from './url-safety';

describe('webhook URL safety', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fd00::1',
    'fe80::1',
    '::ffff:127.0.0.1',
  ])('treats %s as private', (ip) => expect(isPrivateAddress(ip)).toBe(true));

  it.each(['8.8.8.8', '172.32.0.1', '100.128.0.1', '2001:4860:4860::8888'])('treats %s as public', (ip) =>
    expect(isPrivateAddress(ip)).toBe(false),
  );

  it('refuses loopback and private targets unless allowed', async () => {
    expect(await webhookUrlProblem('http://127.0.0.1:9/hook', false)).toMatch(/loopback or private/);
    expect(await webhookUrlProblem('http://localhost/hook', false)).toMatch(/loopback/);
    expect(await webhookUrlProblem('http://[::1]/hook', false)).toMatch(/private/);
    expect(await webhookUrlProblem('http://169.254.169.254/latest/meta-data', false)).toMatch(/private/);
    expect(await webhookUrlProblem('http://127.0.0.1:9/hook', true)).toBeNull();
  });

  it('refuses other schemes and credentials', async () => {
    expect(await webhookUrlProblem('ftp://example.com/x', true)).toMatch(/http or https/);
    expect(await webhookUrlProblem('https://user:pw@example.com/x', true)).toMatch(/credentials/);
    expect(await webhookUrlProblem('not a url', true)).toMatch(/not a valid URL/);
  });
});
