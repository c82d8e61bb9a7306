// The pieces of connect that are not the door policy (callhome-flow.test.ts covers that): the
// prober hands on the connection that got through, the relay, the hand-over, the ProxyCommand's
// quoting.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, Socket, type Server } from 'node:net';
import { PassThrough } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netProber } from '../../src/core/probe.js';
import { relay } from '../../src/connect/relay.js';
import { decodeHandover, encodeHandover, readStatus, writeStatus } from '../../src/core/door/handover.js';
import { ownProgram, proxyCommandFor } from '../../src/core/door/proxy-command.js';
import { parseConnectArgs } from '../../src/connect/options.js';
import { KnockstickError } from '../../src/core/errors.js';

let server: Server;
let port = 0;
const received: string[] = [];

beforeAll(async () => {
  server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined); // probes and the EPIPE case reset their connections
    s.write('SSH-2.0-fake\r\n');
    let text = '';
    s.on('data', (d) => (text += d.toString()));
    s.on('end', () => {
      received.push(text);
      s.end('bye\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => new Promise<void>((r) => server.close(() => r())));

describe('the prober with keep', () => {
  it('hands on the connected socket, with what the server sent first still in it', async () => {
    const result = await netProber.probe({ address: '127.0.0.1', family: 4 }, port, { deadlineMs: 2000, intervalMs: 5, keep: true });
    expect(result.open).toBe(true);
    expect(result.socket).toBeInstanceOf(Socket);
    const first = await new Promise<string>((r) => result.socket?.once('data', (d) => r(d.toString())));
    expect(first).toBe('SSH-2.0-fake\r\n');
    result.socket?.destroy();
  });

  it('without keep closes it, as before', async () => {
    const result = await netProber.probe({ address: '127.0.0.1', family: 4 }, port, { deadlineMs: 2000, intervalMs: 5 });
    expect(result.open).toBe(true);
    expect(result.socket).toBeUndefined();
  });
});

describe('the relay', () => {
  it('carries both directions, half-closes each, and ends when both are done', async () => {
    const result = await netProber.probe({ address: '127.0.0.1', family: 4 }, port, { deadlineMs: 2000, intervalMs: 5, keep: true });
    const input = new PassThrough();
    const output = new PassThrough();
    let out = '';
    output.on('data', (d) => (out += d.toString()));
    let closed = 0;
    const done = relay(result.socket as Socket, { input, output, closeOutput: () => void closed++ });
    input.end('hello server');
    await done;
    expect(out).toBe('SSH-2.0-fake\r\nbye\n');
    expect(received).toContain('hello server');
    expect(closed).toBe(1);
  });

  it('carries megabytes both ways intact, with back-pressure on a slow reader', async () => {
    const echo = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    try {
      const result = await netProber.probe({ address: '127.0.0.1', family: 4 }, (echo.address() as { port: number }).port, { deadlineMs: 2000, intervalMs: 5, keep: true });
      const payload = Buffer.alloc(4 * 1024 * 1024);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 11)) & 0xff;
      const input = new PassThrough();
      const output = new PassThrough({ highWaterMark: 1024 });
      const chunks: Buffer[] = [];
      // A slow reader: a chunk every tick.
      const reading = (async () => {
        for await (const chunk of output) {
          chunks.push(chunk as Buffer);
          await new Promise((r) => setImmediate(r));
        }
      })();
      const done = relay(result.socket as Socket, { input, output });
      input.end(payload);
      await done;
      await reading;
      expect(Buffer.concat(chunks).equals(payload)).toBe(true);
    } finally {
      await new Promise<void>((r) => echo.close(() => r()));
    }
  });

  it('ends at once when ssh goes away (its pipe breaks)', async () => {
    const result = await netProber.probe({ address: '127.0.0.1', family: 4 }, port, { deadlineMs: 2000, intervalMs: 5, keep: true });
    const input = new PassThrough();
    const output = new PassThrough();
    const done = relay(result.socket as Socket, { input, output });
    output.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    await done;
    expect((result.socket as Socket).destroyed).toBe(true);
  });
});

describe('the hand-over from callhome', () => {
  it('round-trips the options and refuses anything else', () => {
    expect(decodeHandover(encodeHandover({ attempts: 3, verbose: true, method: 'spa', name: 'callhome' }))).toEqual({ attempts: 3, verbose: true, method: 'spa', name: 'callhome' });
    expect(decodeHandover(undefined)).toEqual({});
    for (const bad of ['{', '[]', '{"attempts":"3"}', '{"verbose":1}', '{"method":"nc"}', '{"doorPolicy":"sometimes"}']) {
      expect(() => decodeHandover(bad)).toThrow(KnockstickError);
    }
  });

  it('connect takes callhome\'s options from it, and its own flags over them', () => {
    const env = { KNOCKSTICK_CONNECT: encodeHandover({ attempts: 3, gapMs: 7, stickRoot: '/stick', name: 'callhome', report: true }), KNOCKSTICK_CONNECT_STATUS: '/tmp/x' };
    const o = parseConnectArgs(['--attempts', '9', 'home', '198.18.0.1', '2222'], { env, cwd: '/', invokedAs: 'knockstick connect' });
    expect(o).toMatchObject({ attempts: 9, gapMs: 7, stickRoot: '/stick', name: 'callhome', report: true, statusDir: '/tmp/x', host: 'home', connectTo: { hostName: '198.18.0.1', port: 2222 } });
    const plain = parseConnectArgs(['home', 'h.example', '22'], { env: { KNOCKSTICK_LAUNCHER_DIR: '/media/stick', KNOCKSTICK_STICK: '/other' }, cwd: '/', invokedAs: 'knockstick connect' });
    expect(plain).toMatchObject({ stickRoot: '/media/stick', name: 'knockstick connect', report: false, statusDir: undefined });
  });

  it('the exit code goes only into a private directory of ours', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'knockstick-connect-test-'));
    try {
      await writeStatus(dir, 7);
      expect(await readStatus(dir)).toBe(7);
      await expect(writeStatus(dir, 8)).rejects.toThrow(); // never overwritten
      await chmod(dir, 0o755);
      await rm(join(dir, 'exit'));
      await expect(writeStatus(dir, 7)).rejects.toThrow(/not a private directory/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the ProxyCommand line', () => {
  it('quotes every word for sh and doubles "%" for ssh', () => {
    const line = proxyCommandFor(["/media/it's 100%/knockstick"]);
    expect(line).toBe("'/media/it'\\''s 100%%/knockstick' connect %n %h %p");
    // What sh makes of it once ssh has turned %% into % (and %n %h %p into words):
    const expanded = line.replace(/%%/g, '%').replace('%n', 'home').replace('%h', 'h').replace('%p', '22');
    expect(execFileSync('sh', ['-c', `printf '%s\\n' ${expanded}`], { encoding: 'utf8' })).toBe("/media/it's 100%/knockstick\nconnect\nhome\nh\n22\n");
  });

  it('runs knockstick.js beside a per-command bin, the bundle itself otherwise, or the executable alone', () => {
    expect(ownProgram('/usr/bin/node', '/opt/ks/dist/bin/callhome.js', false)).toEqual(['/usr/bin/node', '/opt/ks/dist/bin/knockstick.js']);
    expect(ownProgram('/usr/bin/node', '/s/.knockstick/knockstick.mjs', false)).toEqual(['/usr/bin/node', '/s/.knockstick/knockstick.mjs']);
    expect(ownProgram('/s/.knockstick/knockstick-linux-x64', undefined, true)).toEqual(['/s/.knockstick/knockstick-linux-x64']);
    // The stick's small proxy bundle beside the full one is preferred.
    expect(ownProgram('/usr/bin/node', '/s/.knockstick/knockstick.mjs', false, (p) => p === '/s/.knockstick/connect.mjs')).toEqual(['/usr/bin/node', '/s/.knockstick/connect.mjs']);
  });
});
