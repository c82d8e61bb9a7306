// knockstick stick: the members of a server (add, list, revoke), each with a door of its own.
// The model is core/members.ts; the actions live in add.ts, list.ts, revoke.ts.

import { resolve } from 'node:path';
import { parseCommandLine, parseInteger } from '../core/args.js';
import type { Command } from '../core/command.js';
import { SERVER_CONFIG_PATH } from '../core/config.js';
import { ExitCode, usageError } from '../core/errors.js';
import { DEFAULT_HOST, isValidHostAlias, resolveStickRoot } from '../core/stick.js';
import { addMember, addMemberToStdout, stickKey } from './add.js';
import { addSpaMember, addSpaMemberFromStdin, isSpaMember, revokeSpaMember, spaServerOptions } from './spa.js';
import { remoteAddKnockMember, remoteAddSpaMember } from './remote.js';
import { stickHelp } from './help.js';
import { listMembers } from './list.js';
import { revokeMember } from './revoke.js';

export const FLAGS = {
  stick: { type: 'string' },
  host: { type: 'string' },
  count: { type: 'string' },
  key: { type: 'string' },
  'server-config': { type: 'string' },
  json: { type: 'boolean' },
  'authorized-keys': { type: 'string' },
  method: { type: 'string' },
  'spa-server': { type: 'string' },
  'access-conf': { type: 'string' },
  'fwknopd-conf': { type: 'string' },
  'fwknopd-pidfile': { type: 'string' },
  remote: { type: 'boolean' },
  via: { type: 'string' },
  'via-host': { type: 'string' },
  'remote-knockstick': { type: 'string' },
  'keys-stdin': { type: 'boolean' },
  'sequences-stdout': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const ONLY: Record<string, readonly string[]> = {
  stick: ['add'],
  host: ['add'],
  count: ['add'],
  key: ['add'],
  json: ['list'],
  'authorized-keys': ['revoke'],
  method: ['add'],
  'spa-server': ['add'],
  'access-conf': ['add', 'revoke'],
  'fwknopd-conf': ['add', 'revoke'],
  'fwknopd-pidfile': ['add', 'revoke'],
  remote: ['add'],
  via: ['add'],
  'via-host': ['add'],
  'remote-knockstick': ['add'],
  'keys-stdin': ['add'],
  'sequences-stdout': ['add'],
};

export const stickCommand: Command = {
  name: 'stick',
  help: stickHelp,
  flags: FLAGS,
  async run(context) {
    const { values, positionals } = parseCommandLine(context.args, FLAGS, context.invokedAs);
    if (values.help === true) {
      context.stdout.write(stickHelp(context.invokedAs));
      return ExitCode.OK;
    }
    const [action, name, ...rest] = positionals;
    if (action !== 'add' && action !== 'list' && action !== 'revoke') {
      throw usageError(action === undefined ? 'missing subcommand: add, list or revoke' : `unknown subcommand ${JSON.stringify(action)} (add, list or revoke)`, `see \`${context.invokedAs} --help\``);
    }
    for (const [flag, actions] of Object.entries(ONLY)) {
      if ((values as Record<string, unknown>)[flag] !== undefined && !actions.includes(action)) throw usageError(`--${flag} does not apply to \`${context.invokedAs} ${action}\``);
    }
    const wantsName = action !== 'list';
    if (wantsName && name === undefined) throw usageError(`${action} needs the stick's NAME`);
    if (rest.length > 0 || (!wantsName && name !== undefined)) throw usageError(`unexpected argument ${JSON.stringify(wantsName ? rest[0] : name)}`);
    const serverConfig = resolve(context.cwd, values['server-config'] ?? SERVER_CONFIG_PATH);
    if (action === 'list') return listMembers({ serverConfig, json: values.json === true }, context);
    // SPA members (spa.ts): their own access.conf stanza instead of a knockd door.
    const spa = spaServerOptions(values, context.cwd, serverConfig);
    if (action === 'revoke') {
      const authorizedKeys = values['authorized-keys'] === undefined ? undefined : resolve(context.cwd, values['authorized-keys']);
      if (await isSpaMember(serverConfig, name as string)) return revokeSpaMember({ ...spa, name: name as string, authorizedKeys }, context);
    }
    if (action === 'revoke') return revokeMember({ name: name as string, serverConfig, authorizedKeys: values['authorized-keys'] === undefined ? undefined : resolve(context.cwd, values['authorized-keys']) }, context);
    if (values['keys-stdin'] === true) {
      // The server's half of a remote add (remote.ts): keys on stdin, the answer on stdout.
      if (values.method !== 'spa' || values.stick !== undefined || values.remote === true) throw usageError('--keys-stdin goes with --method spa, without --stick or --remote (remote stick add runs it over ssh)');
      let stdin = '';
      for await (const chunk of process.stdin) stdin += String(chunk);
      return addSpaMemberFromStdin({ ...spa, name: name as string, stdin }, context);
    }
    const count = values.count === undefined ? 50 : parseInteger('--count', values.count, 2, 100_000);
    if (values['sequences-stdout'] === true) {
      // The server's half of a remote knock add (remote.ts): the new stick's side on stdout.
      if ((values.method ?? 'knock') !== 'knock' || values.stick !== undefined || values.remote === true || values.key !== undefined) {
        throw usageError('--sequences-stdout is for knock members, without --stick, --key or --remote (remote stick add runs it over ssh)');
      }
      let stdin = '';
      for await (const chunk of process.stdin) stdin += String(chunk);
      const host = values.host ?? DEFAULT_HOST;
      if (!isValidHostAlias(host)) throw usageError(`--host must be an alias (letters, digits, . _ -), got ${JSON.stringify(host)}`);
      return addMemberToStdout({ name: name as string, serverConfig, host, count, stdin }, context);
    }
    if (values.remote === true) {
      if (values.stick === undefined) throw usageError('add --remote needs --stick DIR: the new stick (mounted here)');
      const method = values.method ?? 'knock';
      if (method !== 'knock' && method !== 'spa') throw usageError(`--method must be knock or spa, got ${JSON.stringify(method)}`);
      const viaHost = values['via-host'] ?? DEFAULT_HOST;
      if (!isValidHostAlias(viaHost)) throw usageError(`--via-host must be an alias of the stick's ssh config, got ${JSON.stringify(viaHost)}`);
      const host = values.host ?? DEFAULT_HOST;
      if (!isValidHostAlias(host)) throw usageError(`--host must be an alias of the stick's ssh config (letters, digits, . _ -), got ${JSON.stringify(host)}`);
      // What both methods pass on; a function, so each method's own flag checks come first.
      const remoteCommon = () => ({
        name: name as string,
        viaRoot: resolveStickRoot({ flag: values.via, env: context.env, cwd: context.cwd }),
        viaHost,
        stickRoot: resolve(context.cwd, values.stick as string),
        host,
        remoteKnockstick: values['remote-knockstick'] ?? 'knockstick',
        sudo: true,
        waitSeconds: 30,
      });
      if (method === 'knock') {
        if (values['spa-server'] !== undefined) throw usageError('--spa-server is for --method spa');
        for (const f of ['access-conf', 'fwknopd-conf', 'fwknopd-pidfile'] as const) if (values[f] !== undefined) throw usageError(`--${f} is for --method spa`);
        return remoteAddKnockMember(
          {
            ...remoteCommon(),
            count,
            keyFile: values.key === undefined ? undefined : resolve(context.cwd, values.key),
            // A path on the server: passed on as given, not resolved here.
            serverArgs: values['server-config'] === undefined ? [] : ['--server-config', values['server-config']],
          },
          context,
        );
      }
      if (values['spa-server'] === undefined) throw usageError('--method spa needs --spa-server HOST: the name or IPv4 address the stick sends its packets to');
      // Paths on the server: passed on as they were given, not resolved here.
      const serverArgs = (['server-config', 'access-conf', 'fwknopd-conf', 'fwknopd-pidfile'] as const).flatMap((f) => (values[f] === undefined ? [] : [`--${f}`, values[f] as string]));
      return remoteAddSpaMember(
        {
          ...remoteCommon(),
          spaServer: values['spa-server'],
          serverArgs,
        },
        context,
      );
    }
    if (values.via !== undefined || values['via-host'] !== undefined || values['remote-knockstick'] !== undefined) throw usageError('--via, --via-host and --remote-knockstick go with --remote');
    if (values.stick === undefined) throw usageError('add needs --stick DIR: the stick that gets the new door\'s sequences');
    const host = values.host ?? DEFAULT_HOST;
    if (!isValidHostAlias(host)) throw usageError(`--host must be an alias of the stick's ssh config (letters, digits, . _ -), got ${JSON.stringify(host)}`);
    const method = values.method ?? 'knock';
    if (method !== 'knock' && method !== 'spa') throw usageError(`--method must be knock or spa, got ${JSON.stringify(method)}`);
    if (method === 'knock' && values['spa-server'] !== undefined) throw usageError('--spa-server is for --method spa');
    if (method === 'spa') {
      if (values.count !== undefined) throw usageError('--count is for knock members: an SPA stick has keys, not sequences');
      if (values['spa-server'] === undefined) throw usageError('--method spa needs --spa-server HOST: the name or IPv4 address the stick sends its packets to');
      const stickRoot = resolveStickRoot({ flag: values.stick, env: context.env, cwd: context.cwd });
      return addSpaMember({ ...spa, name: name as string, stickRoot, host, spaServer: values['spa-server'], sshKey: await stickKey(stickRoot, values.key === undefined ? undefined : resolve(context.cwd, values.key)) }, context);
    }
    return addMember(
      {
        name: name as string,
        serverConfig,
        stickRoot: resolveStickRoot({ flag: values.stick, env: context.env, cwd: context.cwd }),
        host,
        count,
        keyFile: values.key === undefined ? undefined : resolve(context.cwd, values.key),
      },
      context,
    );
  },
};
