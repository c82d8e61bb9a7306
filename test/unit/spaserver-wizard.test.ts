import { describe, expect, it } from '@jest/globals';
import { scripted } from '../helpers/scripted-prompts.js';
import { askSpaAnswers, type SpaAnswers, type SpaWizardFacts } from '../../src/server/spa-wizard.js';


const facts: SpaWizardFacts = { interfaces: ['eth0', 'wlan0'], defaultInterface: 'eth0', isDirectory: async (p) => p === '/mnt/secure' };

describe('server init --method spa wizard', () => {
  it('asks for everything the flags did not give; the defaults are fwknopd\'s port, sshd on 22, nothing required, no commands', async () => {
    // interface, router?, spa server, firewall, door policy, spa port, ssh port, user, source?, commands?, stick
    const { prompts, asked } = scripted(['', false, 'home.example.org', '', '', '', '', '', false, false, '']);
    expect(await askSpaAnswers(prompts, {}, facts)).toEqual({
      interface: 'eth0',
      spaServer: 'home.example.org',
      firewall: 'nftables',
      doorPolicy: 'single-use',
      spaPort: 62201,
      sshPort: 22,
      requireUsername: null,
      requireSource: false,
      allowCommand: null,
      behindRouter: null,
      stick: null,
    });
    expect(asked).toHaveLength(11);
  });

  it('the seed set-up: ufw (no door policy question: windows), port 40001, sshd 2222, a user, the source, a command regex, a router', async () => {
    const { prompts, asked } = scripted(['wlan0', true, '192.168.1.10', '203.0.113.7', 'ufw', '40001', '2222', 'alice', true, true, 'systemctl restart (nginx|ssh)', '/mnt/secure']);
    expect(await askSpaAnswers(prompts, {}, facts)).toEqual({
      interface: 'wlan0',
      spaServer: '203.0.113.7',
      firewall: 'ufw',
      doorPolicy: 'window',
      spaPort: 40001,
      sshPort: 2222,
      requireUsername: 'alice',
      requireSource: true,
      allowCommand: 'systemctl restart (nginx|ssh)',
      behindRouter: '192.168.1.10',
      stick: '/mnt/secure',
    });
    expect(asked.some((q) => q.startsWith('What may a door'))).toBe(false);
    expect(asked.find((q) => q.startsWith('Name or IPv4'))).toMatch(/router's public one/);
  });

  it('asks nothing the flags answered', async () => {
    const { prompts, asked } = scripted([]);
    const known: SpaAnswers = {
      interface: 'eth0', spaServer: 'h', firewall: 'iptables', doorPolicy: 'window', spaPort: 1, sshPort: 2, requireUsername: 'u', requireSource: false, allowCommand: null, behindRouter: null, stick: '/s',
    };
    expect(await askSpaAnswers(prompts, known, facts)).toEqual(known);
    expect(asked).toEqual([]);
  });

  it('validates each answer like its flag', async () => {
    const rest: SpaAnswers = { interface: 'eth0', behindRouter: null, firewall: 'nftables', doorPolicy: 'window', spaPort: 1, sshPort: 22, requireSource: false, allowCommand: null, stick: null };
    await expect(askSpaAnswers(scripted(['h;reboot']).prompts, rest, facts)).rejects.toThrow(/name or IPv4 address/);
    await expect(askSpaAnswers(scripted(['a:b']).prompts, { ...rest, spaServer: 'h' }, facts)).rejects.toThrow(/user name/);
    await expect(askSpaAnswers(scripted([true, '.*']).prompts, { ...rest, spaServer: 'h', requireUsername: null, allowCommand: undefined }, facts)).rejects.toThrow(/allows every command/);
    await expect(askSpaAnswers(scripted([true, 'router.lan']).prompts, { ...rest, spaServer: 'h', requireUsername: null, behindRouter: undefined }, facts)).rejects.toThrow(/IPv4 address/);
    await expect(askSpaAnswers(scripted(['70000']).prompts, { ...rest, spaServer: 'h', requireUsername: null, spaPort: undefined }, facts)).rejects.toThrow(/port number/);
  });
});
