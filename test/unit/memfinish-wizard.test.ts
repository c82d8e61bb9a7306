// usbsetup's wizard on a machine that is a knockstick server: it offers to make the stick a new
// member (asks which server and which name, refusing names the registry holds, revoked ones too),
// and asks the old questions where there is no server.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SERVER_CONFIG_PATH } from '../../src/core/config.js';
import { formatRegistry } from '../../src/core/members.js';
import { localServers, takenNames } from '../../src/usbsetup/member.js';
import { askContent, type LocalServers } from '../../src/usbsetup/wizard.js';

interface Script {
  readonly confirm?: (m: string) => boolean;
  readonly select?: (m: string, values: readonly string[]) => string;
  /** Answers to the member-name question, in order; each is checked with the prompt's validation. */
  readonly names?: string[];
  readonly path?: string;
}

function fakePrompts(script: Script) {
  const asked: string[] = [];
  const refused: string[] = [];
  const prompts = {
    select: async <T extends string>(m: string, choices: readonly { value: T }[], d?: T): Promise<T> => {
      asked.push(m);
      return (script.select?.(m, choices.map((c) => c.value)) as T | undefined) ?? (d as T);
    },
    input: async (m: string, options: { validate?: (v: string) => true | string } = {}): Promise<string> => {
      asked.push(m);
      if (m.startsWith('Your server')) return '198.18.0.1';
      if (m.startsWith('Your user')) return 'alice';
      if (m.startsWith('Path of that server.conf')) return script.path ?? '/nowhere';
      if (m.startsWith('Name of the new member')) {
        // As the terminal prompt does: an answer the validation refuses is asked again.
        for (const name of script.names ?? []) {
          const verdict = options.validate?.(name) ?? true;
          if (verdict === true) return name;
          refused.push(`${name}: ${verdict}`);
        }
        throw new Error('no accepted name in the script');
      }
      return '';
    },
    confirm: async (m: string, d?: boolean): Promise<boolean> => (asked.push(m), script.confirm?.(m) ?? d ?? false),
    password: async () => '',
  };
  return { prompts, asked, refused };
}

const known = { alias: 'home', port: 22, sequences: 50 };
const server = (found: readonly string[], taken: Record<string, string> = {}): LocalServers => ({ found, takenNames: async () => new Map(Object.entries(taken)) });

describe('usbsetup wizard on a knockstick server', () => {
  it('makes the stick a new member of the server at the default path, asking only the name', async () => {
    const { prompts, asked } = fakePrompts({ names: ['kim'] });
    const answers = await askContent(prompts, known, false, server([SERVER_CONFIG_PATH]));
    expect(answers.member).toEqual({ name: 'kim', serverConfig: SERVER_CONFIG_PATH });
    expect(answers.serverFile).toBeUndefined();
    expect(asked.some((m) => /sequences|sequence file/.test(m))).toBe(false);
    expect(asked.some((m) => m.startsWith('Which server'))).toBe(false);
  });

  it('refuses a taken name (revoked too) and a bad one, with the reason, then takes a free one', async () => {
    const { prompts, refused } = fakePrompts({ names: ['ssh', 'spare', 'Bad Name', 'kim'] });
    const answers = await askContent(prompts, known, false, server([SERVER_CONFIG_PATH], { ssh: 'is already a member of this server', spare: 'was a member, revoked 2026-11-30' }));
    expect(answers.member?.name).toBe('kim');
    expect(refused).toHaveLength(3);
    expect(refused[0]).toMatch(/^ssh: ssh is already a member/);
    expect(refused[1]).toMatch(/^spare: spare was a member, revoked 2026-11-30; choose another name/);
    expect(refused[2]).toMatch(/not a stick name/);
  });

  it('asks which server when several are plausible, or the one found is not at the default path', async () => {
    const several = fakePrompts({ names: ['kim'], select: (m, values) => (m.startsWith('Which server') ? values[1] ?? '' : values[0] ?? '') });
    const a = await askContent(several.prompts, { ...known, method: 'knock' }, false, server(['/etc/knockstick/server.conf', '/srv/staging/server.conf']));
    expect(a.member).toEqual({ name: 'kim', serverConfig: '/srv/staging/server.conf' });
    const other = fakePrompts({ names: ['kim'], path: '/opt/ks/server.conf', select: (m, values) => (m.startsWith('Which server') ? '__other__' : values[0] ?? '') });
    const b = await askContent(other.prompts, { ...known, method: 'knock' }, false, server(['/srv/staging/server.conf']));
    expect(b.member).toEqual({ name: 'kim', serverConfig: '/opt/ks/server.conf' });
  });

  it('no server here, or the offer declined: the old questions (copy the server file) are asked', async () => {
    for (const servers of [server([]), undefined]) {
      const { prompts, asked } = fakePrompts({});
      const answers = await askContent(prompts, known, false, servers);
      expect(answers.member).toBeUndefined();
      expect(asked.some((m) => /knockstick server/.test(m))).toBe(false);
      expect(asked.some((m) => /Does the server already have sequences/.test(m))).toBe(true);
    }
    const declined = fakePrompts({ confirm: () => false });
    const answers = await askContent(declined.prompts, known, false, server([SERVER_CONFIG_PATH]));
    expect(answers.member).toBeUndefined();
    expect(declined.asked.some((m) => /Does the server already have sequences/.test(m))).toBe(true);
  });

  it('never offers membership with --server-file, --sequences 0 or GnuPG SPA', async () => {
    for (const extra of [{ serverFile: '/etc/knockd/ssh' }, { sequences: 0, sequencesGiven: true }, { method: 'spa' as const, gpgServerKey: '/k.asc' }]) {
      const { prompts, asked } = fakePrompts({ names: ['kim'] });
      const answers = await askContent(prompts, { ...known, ...extra }, false, server([SERVER_CONFIG_PATH]));
      expect(answers.member).toBeUndefined();
      expect(asked.some((m) => /knockstick server/.test(m))).toBe(false);
    }
  });
});

describe('finding the server here and its taken names', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'memfinish-wizard-'));
    await writeFile(
      join(dir, 'sticks.conf'),
      formatRegistry({
        members: [
          { name: 'alice', method: 'knock', door: 'stick-alice', oneTimeFile: '/etc/knockd/stick-alice', pool: { kind: 'rest' }, created: '2026-11-01T00:00:00Z' },
          { name: 'spare', method: 'spa', door: 'stick-spare', created: '2026-11-02T00:00:00Z', revoked: '2026-11-30T00:00:00Z' },
        ],
      }),
      { mode: 0o600 },
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a server.conf path counts when it or the sticks.conf next to it exists', async () => {
    expect((await localServers([join(dir, 'server.conf'), join(dir, 'none', 'server.conf')])).found).toEqual([join(dir, 'server.conf')]);
  });

  it('every registry name is taken, revoked ones too, and the first door ssh', async () => {
    const taken = await takenNames(join(dir, 'server.conf'));
    expect([...taken.keys()].sort()).toEqual(['alice', 'spare', 'ssh']);
    expect(taken.get('alice')).toMatch(/already a member/);
    expect(taken.get('spare')).toMatch(/revoked 2026-11-30/);
  });
});
