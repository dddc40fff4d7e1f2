import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, type WebhookEnvironment } from '../../src/lib/webhook-url.ts';

type Row = [input: string, environments: WebhookEnvironment[], expected: { url: string } | { refused: string }];

const EVERYWHERE: WebhookEnvironment[] = ['development', 'test', 'production'];
const OUTSIDE_PRODUCTION: WebhookEnvironment[] = ['development', 'test'];
const PRODUCTION: WebhookEnvironment[] = ['production'];

const ROWS: Row[] = [
  // Allowed.
  ['https://hooks.example.com/switchyard', EVERYWHERE, { url: 'https://hooks.example.com/switchyard' }],
  ['HTTPS://Hooks.Example.COM:443/a/../b?x=1', EVERYWHERE, { url: 'https://hooks.example.com/b?x=1' }],
  ['https://hooks.example.com:8443/in', EVERYWHERE, { url: 'https://hooks.example.com:8443/in' }],
  ['https://8.8.8.8/hook', EVERYWHERE, { url: 'https://8.8.8.8/hook' }],
  ['https://[2606:4700:4700::1111]/hook', EVERYWHERE, { url: 'https://[2606:4700:4700::1111]/hook' }],
  ['https://bücher.example/hook', EVERYWHERE, { url: 'https://xn--bcher-kva.example/hook' }],
  ['https://hooks.example.com./trailing', EVERYWHERE, { url: 'https://hooks.example.com./trailing' }],
  // Loopback: a receiver on the developer's machine, never in production.
  ['http://127.0.0.1:8790/hook', OUTSIDE_PRODUCTION, { url: 'http://127.0.0.1:8790/hook' }],
  ['http://127.0.0.1:8790/hook', PRODUCTION, { refused: 'loopback' }],
  ['https://127.0.0.1/hook', PRODUCTION, { refused: 'loopback' }],
  ['http://localhost:3000/hook', OUTSIDE_PRODUCTION, { url: 'http://localhost:3000/hook' }],
  ['https://localhost/hook', PRODUCTION, { refused: 'loopback' }],
  ['https://LOCALHOST./hook', PRODUCTION, { refused: 'loopback' }],
  ['https://api.localhost/hook', PRODUCTION, { refused: 'loopback' }],
  ['https://2130706433/', PRODUCTION, { refused: '127.0.0.1 is a loopback' }],
  ['https://0x7f.0.0.1/', PRODUCTION, { refused: '127.0.0.1 is a loopback' }],
  ['https://0177.0.0.1/', PRODUCTION, { refused: '127.0.0.1 is a loopback' }],
  ['https://127.1/', PRODUCTION, { refused: '127.0.0.1 is a loopback' }],
  ['https://[::1]/hook', PRODUCTION, { refused: 'loopback' }],
  ['http://[::1]:8790/hook', OUTSIDE_PRODUCTION, { url: 'http://[::1]:8790/hook' }],
  ['https://[::ffff:127.0.0.1]/', PRODUCTION, { refused: 'loopback' }],
  ['https://[0:0:0:0:0:ffff:7f00:1]/', PRODUCTION, { refused: 'loopback' }],
  // Private, shared, link-local and metadata addresses: refused everywhere, in every spelling.
  ['https://10.0.0.1/', EVERYWHERE, { refused: '10.0.0.1 is a private address' }],
  ['https://167772161/', EVERYWHERE, { refused: '10.0.0.1 is a private address' }],
  ['https://0xa000001/', EVERYWHERE, { refused: '10.0.0.1 is a private address' }],
  ['https://012.0.0.1/', EVERYWHERE, { refused: '10.0.0.1 is a private address' }],
  ['https://172.16.5.4/', EVERYWHERE, { refused: 'private' }],
  ['https://172.31.255.255/', EVERYWHERE, { refused: 'private' }],
  ['https://192.168.1.1/', EVERYWHERE, { refused: 'private' }],
  ['https://100.64.0.1/', EVERYWHERE, { refused: 'CGNAT' }],
  ['https://100.100.100.200/latest/meta-data', EVERYWHERE, { refused: 'CGNAT' }],
  ['https://169.254.169.254/latest/meta-data/', EVERYWHERE, { refused: 'link-local' }],
  ['https://2852039166/latest/meta-data/', EVERYWHERE, { refused: '169.254.169.254' }],
  ['https://0xa9.0xfe.0xa9.0xfe/', EVERYWHERE, { refused: '169.254.169.254' }],
  ['https://0.0.0.0/', EVERYWHERE, { refused: '"this network"' }],
  ['https://0/', EVERYWHERE, { refused: '0.0.0.0' }],
  ['https://192.0.2.10/', EVERYWHERE, { refused: 'documentation' }],
  ['https://198.18.0.1/', EVERYWHERE, { refused: 'benchmarking' }],
  ['https://224.0.0.1/', EVERYWHERE, { refused: 'multicast' }],
  ['https://255.255.255.255/', EVERYWHERE, { refused: 'reserved' }],
  ['https://[::ffff:10.0.0.1]/', EVERYWHERE, { refused: 'private address inside an IPv6' }],
  ['https://[::ffff:a9fe:a9fe]/', EVERYWHERE, { refused: 'link-local (cloud metadata) address inside an IPv6' }],
  ['https://[::10.0.0.1]/', EVERYWHERE, { refused: 'private address inside an IPv6' }],
  ['https://[64:ff9b::a9fe:a9fe]/', EVERYWHERE, { refused: 'link-local' }],
  ['https://[::ffff:8.8.8.8]/', PRODUCTION, { refused: 'an IPv4 address written as IPv6' }],
  ['https://[fd00:ec2::254]/latest/meta-data/', EVERYWHERE, { refused: 'unique local' }],
  ['https://[fc00::1]/', EVERYWHERE, { refused: 'unique local' }],
  ['https://[fe80::1]/', EVERYWHERE, { refused: 'link-local' }],
  ['https://[ff02::1]/', EVERYWHERE, { refused: 'multicast' }],
  ['https://[2001:db8::1]/', EVERYWHERE, { refused: 'documentation' }],
  ['https://[::]/', EVERYWHERE, { refused: 'unspecified' }],
  ['https://[100::1]/', EVERYWHERE, { refused: 'discard' }],
  ['https://metadata.google.internal/computeMetadata/v1/', EVERYWHERE, { refused: 'internal name' }],
  ['https://metadata.google.internal./computeMetadata/v1/', EVERYWHERE, { refused: 'internal name' }],
  ['https://METADATA/', EVERYWHERE, { refused: 'internal name' }],
  ['https://instance-data/latest/', EVERYWHERE, { refused: 'internal name' }],
  ['https://billing.corp/hook', EVERYWHERE, { refused: 'internal name' }],
  ['https://printer.local/', EVERYWHERE, { refused: 'internal name' }],
  ['https://router.home.arpa/', EVERYWHERE, { refused: 'internal name' }],
  ['https://intranet/hook', PRODUCTION, { refused: 'no domain' }],
  // Credentials, fragments, schemes, length, garbage.
  ['https://user:pass@hooks.example.com/', EVERYWHERE, { refused: 'user name or password' }],
  ['https://hooks.example.com@127.0.0.1/', EVERYWHERE, { refused: 'user name or password' }],
  ['https://token@hooks.example.com/', EVERYWHERE, { refused: 'user name or password' }],
  ['https://hooks.example.com/in#part', EVERYWHERE, { refused: 'fragment' }],
  ['https://hooks.example.com/in#', EVERYWHERE, { refused: 'fragment' }],
  ['https://hooks.example.com/in%2', EVERYWHERE, { refused: '%XX escape' }],
  ['https://hooks.example.com/in%zz?x=1', EVERYWHERE, { refused: '%XX escape' }],
  ['https://hooks.example.com/100%?a', EVERYWHERE, { refused: '%XX escape' }],
  ['https://hooks.example.com/in%2Fout?q=%41', EVERYWHERE, { url: 'https://hooks.example.com/in%2Fout?q=%41' }],
  ['http://hooks.example.com/hook', PRODUCTION, { refused: 'https in production' }],
  ['http://hooks.example.com/hook', OUTSIDE_PRODUCTION, { refused: 'only to a loopback host' }],
  ['ftp://hooks.example.com/', EVERYWHERE, { refused: 'not ftp' }],
  ['javascript:alert(1)', EVERYWHERE, { refused: 'not javascript' }],
  ['file:///etc/passwd', EVERYWHERE, { refused: 'not file' }],
  ['gopher://127.0.0.1:6379/_FLUSHALL', EVERYWHERE, { refused: 'not gopher' }],
  [`https://hooks.example.com/${'a'.repeat(2049 - 'https://hooks.example.com/'.length)}`, EVERYWHERE, { refused: 'at most 2048' }],
  ['hooks.example.com/no-scheme', EVERYWHERE, { refused: 'Not an absolute URL' }],
  ['https://', EVERYWHERE, { refused: 'Not an absolute URL' }],
  ['https://[::1/', EVERYWHERE, { refused: 'Not an absolute URL' }],
];

describe('checkWebhookUrl', () => {
  it('has a row for at least 40 spellings', () => {
    expect(new Set(ROWS.map(([input]) => input)).size).toBeGreaterThanOrEqual(40);
  });

  const cases = ROWS.flatMap(([input, environments, expected]) =>
    environments.map((environment) => [input, environment, expected] as const),
  );
  it.each(cases)('%s in %s', (input, environment, expected) => {
    const verdict = checkWebhookUrl(input, environment);
    if ('url' in expected) {
      expect(verdict).toEqual({ ok: true, url: expected.url });
    } else {
      expect(verdict.ok, JSON.stringify(verdict)).toBe(false);
      if (!verdict.ok) expect(verdict.reason).toContain(expected.refused);
    }
  });

  it('takes a 2048-character URL, and not one more', () => {
    const base = 'https://hooks.example.com/';
    expect(checkWebhookUrl(`${base}${'a'.repeat(2048 - base.length)}`, 'production').ok).toBe(true);
    expect(checkWebhookUrl(`${base}${'a'.repeat(2049 - base.length)}`, 'production').ok).toBe(false);
  });
});
