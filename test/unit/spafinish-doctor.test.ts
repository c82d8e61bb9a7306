// doctor on an SPA server with --allow-command: knockstick's command filter (fwknopd.conf SUDO_EXE,
// the stanza's ENABLE_CMD_SUDO_EXEC Y) is what enforces the stanza's CMD_REGEX (fwknopd 2.6 ignores
// CMD_REGEX). One test per finding that changes with it; without the filter, today's findings stay.

import { describe, expect, it } from '@jest/globals';
import { loadTemplate } from '../../src/core/templates.js';
import { checkFwknopd, commandFilterRegex, type FwknopdFacts, type FwknopFileFact } from '../../src/doctor/fwknopd-checks.js';
import type { Finding } from '../../src/doctor/checks.js';
import { renderCommandFilter } from '../../src/server/spa-setups.js';

const KEY = Buffer.alloc(32, 7).toString('base64');
const HMAC = Buffer.alloc(64, 9).toString('base64');
const KEY2 = Buffer.alloc(32, 3).toString('base64');
const HMAC2 = Buffer.alloc(64, 5).toString('base64');
const REGEX = "touch /tmp/(ok|it's)";
const FILTER = '/etc/knockstick/spa-command-filter';
const CONF = `PCAP_INTF eth0;\nENABLE_UDP_SERVER Y;\nSUDO_EXE ${FILTER};\n`;
// The command stanza as server init --allow-command writes it (CMD_REGEX on line 11).
const ACCESS = `SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\nFW_ACCESS_TIMEOUT 10\nSOURCE ANY\nOPEN_PORTS udp/62201\nKEY_BASE64 ${KEY2}\nHMAC_KEY_BASE64 ${HMAC2}\nENABLE_CMD_EXEC Y\nCMD_REGEX ${REGEX}\nENABLE_CMD_SUDO_EXEC Y\n`;

async function filter(over: Partial<FwknopFileFact> = {}): Promise<FwknopFileFact> {
  return { path: FILTER, text: renderCommandFilter(await loadTemplate('spa-command-filter.sh'), REGEX), mode: 0o700, uid: 0, ...over };
}
function facts(commandFilter: FwknopFileFact | undefined, access = ACCESS): FwknopdFacts {
  return {
    conf: { path: '/etc/fwknop/fwknopd.conf', text: CONF, mode: 0o600, uid: 0 },
    access: { path: '/etc/fwknop/access.conf', text: access, mode: 0o600, uid: 0 },
    sshPorts: [22],
    ...(commandFilter === undefined ? {} : { commandFilter }),
  };
}
const notOk = (fs: readonly Finding[]): string[] => fs.filter((f) => f.severity !== 'ok').map((f) => `${f.severity} ${f.id}: ${f.message}`);
const cmdExec = (fs: readonly Finding[]): Finding[] => fs.filter((f) => f.id === 'access:cmd-exec');

describe('access:open-ports of the command stanza', () => {
  it("OPEN_PORTS udp/SPA-port in a command stanza is fine (it opens nothing new); the same in a door's stanza is not", async () => {
    const fs = checkFwknopd(facts(await filter()));
    expect(fs.filter((f) => f.id === 'access:open-ports').map((f) => `${f.severity} ${f.message}`)).toEqual([
      expect.stringMatching(/^ok .*:2 OPEN_PORTS tcp\/22 includes sshd's port/),
      expect.stringMatching(/^ok .*:7 OPEN_PORTS udp\/62201: a command stanza; it opens only the SPA port/),
    ]);
    const door = checkFwknopd(facts(await filter(), ACCESS.replace('OPEN_PORTS tcp/22', 'OPEN_PORTS udp/62201')));
    expect(door.filter((f) => f.id === 'access:open-ports' && f.severity === 'error')).toHaveLength(1);
  });
});

describe('access:cmd-exec with the command filter', () => {
  it("reads the regex out of the filter server init writes (a quote in it too); another file's is unknown", async () => {
    expect(commandFilterRegex((await filter()).text as string)).toBe(REGEX);
    expect(commandFilterRegex('#!/bin/sh\nexec sudo "$@"\n')).toBeUndefined();
  });

  it('enforced: the regex is said to be enforced by the filter, and CMD_REGEX is not called unknown', async () => {
    const fs = checkFwknopd(facts(await filter()));
    expect(notOk(fs)).toEqual([]);
    expect(cmdExec(fs)).toEqual([expect.objectContaining({ severity: 'ok', message: expect.stringMatching(/:10 command messages run only if the whole command matches "touch \/tmp\/\(ok\|it's\)" \(CMD_REGEX, line 11\): enforced by the command filter \/etc\/knockstick\/spa-command-filter \(fwknopd's SUDO_EXE\), as root/) })]);
  });

  it('the filter missing: an error (every command fails)', async () => {
    const fs = checkFwknopd(facts(await filter({ text: null, mode: undefined })));
    expect(cmdExec(fs)).toEqual([expect.objectContaining({ severity: 'error', message: expect.stringMatching(/SUDO_EXE \/etc\/knockstick\/spa-command-filter, which does not exist/) })]);
  });

  it('the filter not executable: an error', async () => {
    const fs = checkFwknopd(facts(await filter({ mode: 0o600 })));
    expect(cmdExec(fs)).toEqual([expect.objectContaining({ severity: 'error', message: expect.stringMatching(/is not executable \(mode 0600\)/), fix: `chmod 700 ${FILTER}` })]);
  });

  it('the filter writable by others: an error', async () => {
    const fs = checkFwknopd(facts(await filter({ mode: 0o777 })));
    expect(cmdExec(fs)).toEqual([expect.objectContaining({ severity: 'error', message: expect.stringMatching(/writable by others \(mode 0777\): anyone who edits it runs commands as root/) })]);
  });

  it('CMD_REGEX and the filter disagree: a warning naming both', async () => {
    const fs = checkFwknopd(facts(await filter(), ACCESS.replace(REGEX, 'reboot')));
    expect(cmdExec(fs)).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringMatching(/:11 CMD_REGEX says "reboot", but the command filter \S+ enforces "touch/) })]);
  });

  it("without the filter (no SUDO_EXE, or another program, or the stanza without ENABLE_CMD_SUDO_EXEC): today's warning and CMD_REGEX unknown", async () => {
    for (const f of [undefined, await filter({ path: '/usr/bin/sudo', text: '\x7fELF' })]) {
      const fs = checkFwknopd(facts(f));
      expect(cmdExec(fs)).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringMatching(/ENABLE_CMD_EXEC is on: a valid packet runs a command as root; CMD_REGEX \(line 11\)/) })]);
      expect(fs.filter((x) => x.id === 'access.conf:unknown').map((x) => x.message)).toEqual([expect.stringMatching(/CMD_REGEX/)]);
    }
    const noSudo = checkFwknopd(facts(await filter(), ACCESS.replace('ENABLE_CMD_SUDO_EXEC Y\n', '')));
    expect(cmdExec(noSudo).map((f) => f.severity)).toEqual(['warning']);
  });
});

describe('stick:spa (--stick): the stick stanza against the access.conf stanza holding its key', () => {
  const rc = (lines: string): NonNullable<FwknopdFacts['stickRc']> => ({ path: '/mnt/s/.ssh/fwknoprc', stanza: 'home', text: `[home]\nSPA_SERVER 192.0.2.1\n${lines}KEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\nUSE_HMAC Y\n` });
  const demanding = ACCESS.replace('FW_ACCESS_TIMEOUT 10\n', 'FW_ACCESS_TIMEOUT 10\nREQUIRE_USERNAME alice\nREQUIRE_SOURCE_ADDRESS Y\n');
  const stickFindings = (r: NonNullable<FwknopdFacts['stickRc']>, access = demanding): string[] =>
    checkFwknopd({ ...facts(undefined, access), conf: { path: '/etc/fwknop/fwknopd.conf', text: 'ENABLE_UDP_SERVER Y;\nUDPSERV_PORT 40001;\n', mode: 0o600, uid: 0 }, stickRc: r })
      .filter((f) => f.id === 'stick:spa').map((f) => `${f.severity} ${f.message}`);

  it('matches: ok', () => {
    expect(stickFindings(rc('SPA_SERVER_PORT 40001\nSPOOF_USER alice\nALLOW_IP local\n'))).toEqual([expect.stringMatching(/^ok the stick's \[home\] .* matches \/etc\/fwknop\/access\.conf:1: its key, port, user$/)]);
  });

  it('REQUIRE_USERNAME but the stick sends no SPOOF_USER; ALLOW_IP source with REQUIRE_SOURCE_ADDRESS; another port: each an error', () => {
    expect(stickFindings(rc(''))).toEqual([
      expect.stringMatching(/^error .* sends to udp\/62201, but fwknopd reads udp\/40001$/),
      expect.stringMatching(/^error .* sends no SPOOF_USER \(fwknop then sends the local login name\), but \/etc\/fwknop\/access\.conf:6 REQUIRE_USERNAME alice refuses anyone else$/),
      expect.stringMatching(/^error .* asks for the address it comes from \(ALLOW_IP source, 0\.0\.0\.0\), but .* REQUIRE_SOURCE_ADDRESS refuses that$/),
    ]);
  });

  it('a key no stanza has: an error; no fwknoprc or no such stanza: an error; a GnuPG stanza: not compared', () => {
    expect(stickFindings({ ...rc(''), text: `[home]\nKEY_BASE64 ${Buffer.alloc(32, 1).toString('base64')}\n` })).toEqual([expect.stringMatching(/^error .*: no stanza of \/etc\/fwknop\/access\.conf has its KEY_BASE64/)]);
    expect(stickFindings({ ...rc(''), text: null })).toEqual([expect.stringMatching(/^error \/mnt\/s\/\.ssh\/fwknoprc does not exist/)]);
    expect(stickFindings({ ...rc(''), stanza: 'work' })).toEqual([expect.stringMatching(/^error .* has no stanza \[work\]/)]);
    expect(stickFindings({ ...rc(''), text: '[home]\nUSE_GPG Y\nGPG_RECIPIENT ABCD\n' })).toEqual([]);
  });
});
