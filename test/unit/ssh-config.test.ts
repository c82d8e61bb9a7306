import { describe, expect, it } from '@jest/globals';
import { hostConfigFrom } from '../../src/core/ssh-config.js';

const CONFIG = `Host home
  HostName Home.Example.org
  User me
  IdentityFile .ssh/id_ed25519
Host office
  HostName 198.51.100.7
  Port 2222
Host aliased
  HostName 198.51.100.8
  HostKeyAlias myserver
Host proxied
  HostName 198.51.100.9
  ProxyJump jump
Host evil
  HostName 198.51.100.10
Match exec "touch /tmp/knockstick-match-exec-ran"
  Port 1
`;

describe('hostConfigFrom', () => {
  it('reads HostName, Port (default 22) and User for an alias', () => {
    expect(hostConfigFrom(CONFIG, 'cfg', 'home')).toMatchObject({ alias: 'home', hostName: 'Home.Example.org', port: 22, user: 'me', proxied: false });
  });

  it('keeps the host key name ssh itself would look up: the host for port 22, [host]:port otherwise', () => {
    expect(hostConfigFrom(CONFIG, 'cfg', 'home').hostKeyAlias).toBe('home.example.org');
    expect(hostConfigFrom(CONFIG, 'cfg', 'office').hostKeyAlias).toBe('[198.51.100.7]:2222');
    expect(hostConfigFrom(CONFIG, 'cfg', 'aliased').hostKeyAlias).toBe('myserver');
  });

  it('notices a proxy, which would make ssh connect from elsewhere than the knock', () => {
    expect(hostConfigFrom(CONFIG, 'cfg', 'proxied').proxied).toBe(true);
  });

  it('never runs a Match exec command from the stick', () => {
    expect(hostConfigFrom(CONFIG, 'cfg', 'evil').port).toBe(22);
  });

  it('refuses an alias without HostName, naming the file and the alias', () => {
    expect(() => hostConfigFrom(CONFIG, '/stick/.ssh/config', 'nowhere')).toThrow(/\/stick\/.ssh\/config: no HostName for "nowhere"/);
  });

  it('refuses a Port that is not a number', () => {
    expect(() => hostConfigFrom('Host x\n  HostName a\n  Port ssh\n', 'cfg', 'x')).toThrow(/Port "ssh" for "x" is not a port number/);
  });
});
