import { describe, expect, it } from '@jest/globals';
import { scripted } from '../helpers/scripted-prompts.js';
import { askServerAnswers, type WizardFacts } from '../../src/server/wizard.js';


const facts: WizardFacts = { interfaces: ['eth0', 'wlan0'], defaultInterface: 'eth0', isDirectory: async (p) => p === '/mnt/secure', sshPort: 22 };

describe('server init wizard', () => {
  it('asks for what the flags did not give, defaulting to the default route and nftables', async () => {
    const { prompts, asked } = scripted(['', '', '', '/mnt/secure', '', '', false]);
    expect(await askServerAnswers(prompts, {}, facts)).toEqual({ interface: 'eth0', firewall: 'nftables', doorPolicy: 'single-use', stick: '/mnt/secure', count: 50, allow: [], ddns: undefined });
    expect(asked).toHaveLength(7);
  });

  it('asks nothing the flags answered', async () => {
    const { prompts, asked } = scripted([]);
    const known = { interface: 'wlan0', firewall: 'iptables' as const, doorPolicy: 'window' as const, stick: '/s', count: 9, allow: [], ddns: { protocol: 'p', server: 's', login: 'l', hostname: 'h' } };
    expect(await askServerAnswers(prompts, known, facts)).toEqual(known);
    expect(asked).toEqual([]);
  });

  it('asks again for a stick path that is not a directory', async () => {
    const { prompts, asked } = scripted(['/nope', '/mnt/secure', false]);
    const answers = await askServerAnswers(prompts, { interface: 'eth0', firewall: 'ufw', doorPolicy: 'single-use', count: 5, allow: [], ddns: undefined }, facts);
    expect(answers.stick).toBe('/mnt/secure');
    expect(asked.filter((q) => q.startsWith('Where is the stick'))).toHaveLength(2);
  });

  it('collects dynamic DNS answers, validating each like its flag', async () => {
    const { prompts } = scripted([true, '', 'members.example.net', 'me', 'home.example.net']);
    const answers = await askServerAnswers(prompts, { interface: 'eth0', firewall: 'nftables', doorPolicy: 'single-use', stick: '/s', count: 5, allow: [] }, facts);
    expect(answers.ddns).toEqual({ protocol: 'dyndns2', server: 'members.example.net', login: 'me', hostname: 'home.example.net' });
    const hostile = scripted([true, '', 'x;reboot']);
    await expect(askServerAnswers(hostile.prompts, { interface: 'eth0', firewall: 'nftables', doorPolicy: 'single-use', stick: '/s', count: 5, allow: [] }, facts)).rejects.toThrow(/letters, digits/);
  });

  it('takes a count of 0 (no new sequences) and refuses one above 100000', async () => {
    expect((await askServerAnswers(scripted(['0']).prompts, { interface: 'eth0', firewall: 'nftables', doorPolicy: 'single-use', stick: '/s', allow: [], ddns: { protocol: 'p', server: 's', login: 'l', hostname: 'h' } }, facts)).count).toBe(0);
    await expect(askServerAnswers(scripted(['100001']).prompts, { interface: 'eth0', firewall: 'nftables', doorPolicy: 'single-use', stick: '/s' }, facts)).rejects.toThrow(/whole number from 0/);
  });

  it('asks no count when every sequence file is there already (they are kept)', async () => {
    const { prompts, asked } = scripted(['']);
    const known = { interface: 'eth0', firewall: 'nftables' as const, doorPolicy: 'single-use' as const, stick: null, ddns: { protocol: 'p', server: 's', login: 'l', hostname: 'h' } };
    expect((await askServerAnswers(prompts, known, { ...facts, sequencesExist: true })).count).toBe(0);
    expect(asked.some((q) => q.includes('How many'))).toBe(false);
  });

  it('asks which other services to keep reachable: none by default, validated like --allow', async () => {
    const known = { interface: 'eth0', firewall: 'nftables' as const, doorPolicy: 'single-use' as const, stick: '/s', count: 5, ddns: { protocol: 'p', server: 's', login: 'l', hostname: 'h' } };
    expect((await askServerAnswers(scripted(['']).prompts, known, facts)).allow).toEqual([]);
    expect((await askServerAnswers(scripted(['tcp/443, udp/51820']).prompts, known, facts)).allow).toEqual([
      { protocol: 'tcp', port: 443 },
      { protocol: 'udp', port: 51820 },
    ]);
    await expect(askServerAnswers(scripted(['tcp/22']).prompts, known, facts)).rejects.toThrow(/that is SSH/);
    await expect(askServerAnswers(scripted(['sctp/9']).prompts, known, facts)).rejects.toThrow(/tcp\/PORT or udp\/PORT/);
  });

  it('asks what a door may let in: single-use by default, the policy server.conf names on a rerun, window on request', async () => {
    const known = { interface: 'eth0', firewall: 'nftables' as const, stick: '/s', count: 5, allow: [], ddns: { protocol: 'p', server: 's', login: 'l', hostname: 'h' } };
    const fresh = scripted(['']);
    expect((await askServerAnswers(fresh.prompts, known, facts)).doorPolicy).toBe('single-use');
    expect(fresh.asked).toEqual(['What may a door let in?']);
    expect((await askServerAnswers(scripted(['']).prompts, known, { ...facts, doorPolicy: 'window' })).doorPolicy).toBe('window');
    expect((await askServerAnswers(scripted(['window']).prompts, known, facts)).doorPolicy).toBe('window');
  });
});
