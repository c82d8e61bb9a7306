// callhome --method spa with fakes: a sender that records datagrams, a prober that opens the door
// after the Nth packet the "server" accepted. The real fwknopd is in test/lab/callhome-spa.test.ts.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { callhomeDeps } from '../../src/callhome/index.js';
import { callhomeViaProxy as callhome, type TestDeps as CallhomeDeps } from '../helpers/proxied-callhome.js';
import { DEFAULTS, parseCallhomeArgs, type CallhomeOptions } from '../../src/callhome/options.js';
import type { SpaCallDeps } from '../../src/core/door/spa-method.js';
import type { Prober } from '../../src/core/probe.js';
import { KnockstickError } from '../../src/core/errors.js';
import { generateKeys } from '../../src/spa/keys.js';
import { decodeSpaPacket } from '../../src/spa/packet.js';
import { formatStanza } from '../../src/spa/rc-file.js';
import { tempDir } from '../helpers/cli.js';

let dir: { path: string; cleanup: () => Promise<void> };
let stick: string;
const keys = generateKeys();

beforeEach(async () => {
  dir = await tempDir();
  stick = join(dir.path, 'stick');
  await mkdir(join(stick, '.ssh'), { recursive: true });
  await writeFile(join(stick, '.ssh', 'config'), 'Host home\n  HostName 198.18.0.1\n  Port 22\n');
  await writeFile(
    join(stick, '.ssh', 'fwknoprc'),
    formatStanza('home', [
      ['SPA_SERVER', '198.18.0.1'],
      ['ACCESS', 'tcp/22'],
      ['ALLOW_IP', 'source'],
      ['KEY_BASE64', keys.encryption.toString('base64')],
      ['HMAC_KEY_BASE64', keys.hmac.toString('base64')],
    ]),
    { mode: 0o600 },
  );
});
afterEach(async () => dir.cleanup());

function options(overrides: Partial<CallhomeOptions> = {}): CallhomeOptions {
  return {
    ...parseCallhomeArgs(['--stick', stick, '--', 'true'], { env: {}, cwd: dir.path, invokedAs: 'callhome' }),
    doorTimeoutMs: 100,
    ...overrides,
  };
}

/** The door opens once `acceptAfter` packets arrived (earlier ones "lost"). */
function world(acceptAfter: number) {
  const packets: string[] = [];
  const ssh: string[][] = [];
  let now = 1_800_000_000_000;
  const prober: Prober = {
    probe: async () => ({ open: packets.length >= acceptAfter, openedBy: packets.length >= acceptAfter ? 1 : null, elapsedMs: 42, refused: 0 }),
  };
  const deps: CallhomeDeps = {
    knocker: { send: async () => void ssh.push(['KNOCKED']) },
    prober,
    now: () => (now += 1000),
    sleep: async () => undefined,
    resolveAddress: async () => ({ address: '198.18.0.1', family: 4 }),
    runSsh: async (invocation) => {
      ssh.push([...invocation.args]);
      return 0;
    },
    lock: callhomeDeps.lock,
    files: callhomeDeps.files,
  };
  const spa: SpaCallDeps = {
    sender: { send: async (target, wire) => void packets.push(`${target.address}:${target.port}:${wire}`) },
    resolveServer: async (host) => host,
    username: () => 'tester',
  };
  const err: string[] = [];
  const out: string[] = [];
  const context = { stdout: { write: (t: string) => void out.push(t) }, stderr: { write: (t: string) => void err.push(t) }, stderrIsTTY: false };
  return { packets, ssh, deps, spa, context, err, out };
}

describe('callhome --method spa', () => {
  it('sends one packet, probes, runs ssh; knocks nothing and writes nothing on the stick', async () => {
    const w = world(1);
    const before = await readdir(join(stick, '.ssh'));
    expect(await callhome(options({ method: 'spa' }), w.deps, w.context, w.spa)).toBe(0);
    expect(w.packets).toHaveLength(1);
    const [address, port, wire] = (w.packets[0] as string).split(':');
    expect([address, port]).toEqual(['198.18.0.1', '62201']);
    expect(decodeSpaPacket(wire as string, keys)).toMatchObject({ username: 'tester', message: '0.0.0.0,tcp/22', messageType: 1 });
    expect(w.ssh).toEqual([['-F', join(stick, '.ssh', 'config'), '-o', 'HostName=198.18.0.1', '-o', 'HostKeyAlias=198.18.0.1', '-4', 'home', 'true']]);
    expect(w.err.join('')).toMatch(/^door open after 42 ms \(SPA packet\)\n$/);
    expect(await readdir(join(stick, '.ssh'))).toEqual(before);
  });

  it('a lost packet is followed by a fresh one (never the same bytes again)', async () => {
    const w = world(3);
    expect(await callhome(options({ method: 'spa' }), w.deps, w.context, w.spa)).toBe(0);
    expect(w.packets).toHaveLength(3);
    expect(new Set(w.packets).size).toBe(3);
    expect(w.err.join('')).toMatch(/door open after 42 ms \(SPA packet, attempt 3\)/);
  });

  it('the door never opening is exit 7 with SPA causes, after --attempts packets', async () => {
    const w = world(99);
    const error = await callhome(options({ method: 'spa', attempts: 4 }), w.deps, w.context, w.spa).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KnockstickError);
    expect((error as KnockstickError).exitCode).toBe(7);
    expect((error as Error).message).toMatch(/did not open after 4 SPA packet\(s\) to 198\.18\.0\.1 udp\/62201/);
    expect((error as Error).message).toMatch(/fwknopd is not running/);
    expect((error as Error).message).toMatch(/more than 120 s off/);
    expect(w.packets).toHaveLength(4);
    expect(w.ssh).toEqual([]);
  });

  it('"method = spa" in the stick config chooses SPA; --method knock overrides it', async () => {
    await writeFile(join(stick, '.ssh', 'knockstick.conf'), '[home]\nmethod = spa\n');
    const w = world(1);
    expect(await callhome(options(), w.deps, w.context, w.spa)).toBe(0);
    expect(w.packets).toHaveLength(1);
    const k = world(1);
    const error = await callhome(options({ method: 'knock' }), k.deps, k.context, k.spa).catch((e: unknown) => e);
    expect((error as KnockstickError).exitCode).toBe(8); // knocking needs a sequence file, and there is none
    expect(k.packets).toHaveLength(0);
  });

  it('a bad method in the stick config is exit 3 naming the line', async () => {
    await writeFile(join(stick, '.ssh', 'knockstick.conf'), '[home]\nmethod = fwknop\n');
    const w = world(1);
    const error = await callhome(options(), w.deps, w.context, w.spa).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/knockstick\.conf:2: method must be knock or spa/);
  });

  it('a missing fwknoprc is exit 6 with the keygen command as hint; a loose one is exit 3', async () => {
    const w = world(1);
    await chmod(join(stick, '.ssh', 'fwknoprc'), 0o644);
    const loose = await callhome(options({ method: 'spa' }), w.deps, w.context, w.spa).catch((e: unknown) => e);
    expect((loose as KnockstickError).exitCode).toBe(3);
    expect(w.packets).toHaveLength(0);
    await rm(join(stick, '.ssh', 'fwknoprc'));
    const none = await callhome(options({ method: 'spa' }), w.deps, w.context, w.spa).catch((e: unknown) => e);
    expect((none as KnockstickError).exitCode).toBe(6);
    expect((none as KnockstickError).hint).toMatch(/knockstick spa keygen --rc-file .*fwknoprc -n home --server HOST/);
  });

  it('--dry-run shows the request and the ssh command, and sends nothing', async () => {
    const w = world(1);
    expect(await callhome(options({ method: 'spa', dryRun: true }), w.deps, w.context, w.spa)).toBe(0);
    expect(w.out.join('')).toMatch(/method spa: keys from .*fwknoprc \[home\]\nwould send up to 6 SPA packet for \[home\] to 198\.18\.0\.1 udp\/62201: open tcp\/22 for the address it comes from/);
    expect(w.packets).toHaveLength(0);
    expect(DEFAULTS.attempts).toBe(6);
  });
});
