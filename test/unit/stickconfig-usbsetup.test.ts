// usbsetup's --door-policy, the place its ssh config will name, and the door_policy key they share
// with connect through STICK/.ssh/knockstick.conf.

import { describe, expect, it } from '@jest/globals';
import { parseConfig, settingsFor } from '../../src/core/config.js';
import { parseUsbsetupArgs } from '../../src/usbsetup/options.js';

const parse = (args: string[]) => parseUsbsetupArgs(args, { cwd: '/work', invokedAs: 'usbsetup' });

describe('usbsetup --door-policy', () => {
  it('is single-use unless asked (the answer is left unset, and the stick gets the default)', () => {
    expect(parse(['--into', '/mnt/x']).content.doorPolicy).toBeUndefined();
  });
  it.each(['single-use', 'window'] as const)('takes %s', (policy) => {
    expect(parse(['--into', '/mnt/x', '--door-policy', policy]).content.doorPolicy).toBe(policy);
  });
  it('refuses anything else, naming both values', () => {
    expect(() => parse(['--door-policy', 'once'])).toThrow(/--door-policy must be single-use or window, got "once"/);
  });
});

describe('where the stick will be: its ssh config must be able to name it', () => {
  it('refuses an --into directory whose name the config cannot carry, before any question', () => {
    expect(() => parse(['--into', '/mnt/a"b'])).toThrow(/--into: .*double quote/);
    expect(() => parse(['--into', 'rel\\x'])).toThrow(/--into: .*backslash/);
  });
  it('takes one with spaces, quotes and %', () => {
    expect(parse(['--into', "/media/bob's 100% stick"]).into).toBe("/media/bob's 100% stick");
  });
});

describe('door_policy in knockstick.conf', () => {
  it('is read per alias, like method', () => {
    const { config, problems } = parseConfig('door_policy = window\n[home]\ndoor_policy = single-use\n', 'k.conf', 'stick');
    expect(problems).toEqual([]);
    expect(settingsFor(config, 'home').doorPolicy).toBe('single-use');
    expect(settingsFor(config, 'work').doorPolicy).toBe('window');
  });
  it('refuses another value, naming the line', () => {
    expect(parseConfig('\n[home]\ndoor_policy = once\n', 'k.conf', 'stick').problems).toEqual([{ file: 'k.conf', line: 3, message: 'door_policy must be single-use or window, got "once"' }]);
  });
});
