// fwknopd.conf / access.conf read the way fwknopd 2.6.10 reads them (src/core/fwknopd-conf.ts), and
// the comparison with the real fwknopd's -D dump (src/core/fwknopd-probe.ts), without running it.

import { describe, expect, it } from '@jest/globals';
import { keyBytes, readAccessConf, readFwknopdConf, scanLine, spaPort } from '../../src/core/fwknopd-conf.js';
import { compareWithFwknopd, parseDump, redact } from '../../src/core/fwknopd-probe.js';

const KEY = Buffer.alloc(32, 7).toString('base64');
const HMAC = Buffer.alloc(64, 9).toString('base64');
const ACCESS = `SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\n`;

describe('scanLine: sscanf("%s %[^;\\n\\r]")', () => {
  it.each<[string, { name: string; value: string } | null]>([
    ['KEY value\n', { name: 'KEY', value: 'value' }],
    ['  \tKEY   a b  ;comment\n', { name: 'KEY', value: 'a b  ' }],
    ['KEY\n', null],
    ['KEY ;x\n', null],
    ['KEY;x y\n', { name: 'KEY;x', value: 'y' }],
    ['   \n', null],
    ['A\0B c\n', null],
  ])('%j', (line, want) => expect(scanLine(line)).toEqual(want));
});

describe('readFwknopdConf', () => {
  it('skips only first-column comments; an indented "#" is a name fwknopd does not know', () => {
    const m = readFwknopdConf('# c\n;c\n  # indented comment\nPCAP_INTF eth0;\n');
    expect(m.values.get('PCAP_INTF')).toEqual({ name: 'PCAP_INTF', value: 'eth0', line: 4 });
    expect(m.problems.map((p) => [p.kind, p.line])).toEqual([['unknown', 3]]);
  });
  it('expands a leading $NAME from an earlier line', () => {
    const m = readFwknopdConf('FWKNOP_RUN_DIR /run/fwknop;\nFWKNOP_PID_FILE $FWKNOP_RUN_DIR/fwknopd.pid;\n');
    expect(m.values.get('FWKNOP_PID_FILE')?.value).toBe('/run/fwknop/fwknopd.pid');
  });
  it('reads a line over 1022 characters as two: the rest becomes a line of its own', () => {
    const m = readFwknopdConf(`PCAP_FILTER ${'x'.repeat(1020)}MAX_SPA_PACKET_AGE 5\n`);
    expect(m.values.get('PCAP_FILTER')?.value.length).toBe(1023 - 'PCAP_FILTER '.length);
    expect(m.problems.map((p) => p.kind)).toEqual(['long-line', 'unknown']);
  });
  it('spaPort: the UDP server port, else PCAP_FILTER\'s', () => {
    expect(spaPort(readFwknopdConf('ENABLE_UDP_SERVER Y;\n'))).toMatchObject({ port: 62201, udpServer: true });
    expect(spaPort(readFwknopdConf('ENABLE_UDP_SERVER Y;\nUDPSERV_PORT 40001;\n')).port).toBe(40001);
    expect(spaPort(readFwknopdConf('PCAP_FILTER udp port 40002;\n'))).toMatchObject({ port: 40002, udpServer: false });
    expect(spaPort(readFwknopdConf('')).port).toBe(62201);
  });
});

describe('readAccessConf', () => {
  it('starts a stanza at each SOURCE, drops a trailing ":" from names, ignores lines before the first SOURCE', () => {
    const m = readAccessConf(`OPEN_PORTS tcp/1\nSOURCE: ANY\nKEY: secret1\nSOURCE 10.0.0.0/8\nKEY secret2\n`);
    expect(m.stanzas.map((s) => [s.line, s.source, s.values.get('KEY')?.value])).toEqual([[2, 'ANY', 'secret1'], [4, '10.0.0.0/8', 'secret2']]);
    expect(m.problems.map((p) => [p.kind, p.line])).toEqual([['before-source', 1]]);
  });
  it('keyBytes: KEY as written, KEY_BASE64 decoded, the later line winning', () => {
    const [s] = readAccessConf(`SOURCE ANY\nKEY abc\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\n`).stanzas;
    expect(keyBytes(s!, 'KEY')?.length).toBe(32);
    expect(keyBytes(s!, 'HMAC_KEY')?.length).toBe(64);
  });
  it('a file without SOURCE, or with __CHANGEME__, is refused', () => {
    expect(readAccessConf('# nothing\n').problems.map((p) => p.fatal)).toEqual([true]);
    expect(readAccessConf('SOURCE ANY\nKEY_BASE64 __CHANGEME__\n').problems.some((p) => p.fatal && /__CHANGEME__/.test(p.message))).toBe(true);
  });
});

/** A dump as fwknopd -D prints it (secrets left out here). */
const DUMP = `Current fwknopd config settings:
  2. PCAP_INTF                    =  'eth0'
 19. ENABLE_UDP_SERVER            =  'Y'
Current fwknopd access settings:
SOURCE (1):  ANY
==============================================================
                DESTINATION:  <not set>
                 OPEN_PORTS:  tcp/22
                    KEY_LEN:  32
               HMAC_KEY_LEN:  64
            ENABLE_CMD_EXEC:  No
             CMD_CYCLE_OPEN:  <not set>
           REQUIRE_USERNAME:  <not set>
     REQUIRE_SOURCE_ADDRESS:  No
`;

describe('the real fwknopd against our reading', () => {
  const conf = readFwknopdConf('PCAP_INTF eth0;\nENABLE_UDP_SERVER Y;\n');
  it('parseDump reads config values and stanza fields', () => {
    const d = parseDump(DUMP);
    expect(d.config.get('PCAP_INTF')).toBe('eth0');
    expect(d.stanzas[0]?.get('OPEN_PORTS')).toBe('tcp/22');
  });
  it('agrees on the same reading', () => {
    expect(compareWithFwknopd(conf, readAccessConf(ACCESS), { exitCode: 0, stdout: DUMP, stderr: '' })).toMatchObject({ kind: 'agrees', accepted: true, stanzas: 1 });
  });
  it('names a difference (a value, a stanza count, a refusal we did not expect)', () => {
    const other = compareWithFwknopd(conf, readAccessConf(ACCESS.replace('tcp/22', 'tcp/2222')), { exitCode: 0, stdout: DUMP, stderr: '' });
    expect(other).toEqual({ kind: 'differs', differences: ['access.conf stanza of line 1: fwknopd has OPEN_PORTS "tcp/22", we read "tcp/2222"'] });
    const refused = compareWithFwknopd(conf, readAccessConf(ACCESS), { exitCode: 1, stdout: '', stderr: '[*] Cannot set CMD_CYCLE_OPEN without also setting CMD_CYCLE_CLOSE: \'ANY\'\n' });
    expect(refused).toMatchObject({ kind: 'differs', differences: [expect.stringMatching(/fwknopd refuses the files \(\[\*\] Cannot set CMD_CYCLE_OPEN/)] });
  });
  it('both refusing agrees; fwknopd\'s words never carry a key', () => {
    const access = readAccessConf(`SOURCE ANY\nKEY_BASE64 ${KEY} !\n`);
    const r = compareWithFwknopd(conf, access, { exitCode: 1, stdout: '', stderr: `[*] KEY_BASE64 argument '${KEY} !' doesn't look like base64-encoded data.\n` });
    expect(r).toMatchObject({ kind: 'agrees', accepted: false });
    expect(JSON.stringify(r)).not.toContain(KEY);
    expect(redact(`line - 'HMAC_KEY_BASE64 ${HMAC}'`, readAccessConf(ACCESS))).not.toContain(HMAC);
    expect(redact(" - 'KEY other secret\n'", readAccessConf(ACCESS))).toBe(" - 'KEY (secret)\n'");
    expect(redact("[*] KEY_BASE64 value is not properly set in stanza source 'ANY'", readAccessConf(ACCESS))).toBe("[*] KEY_BASE64 value is not properly set in stanza source 'ANY'");
  });
});
