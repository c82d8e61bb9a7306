// scripts/ansible-lab: the README's one command for the Ansible role. Builds the three-server lab
// (src/lab/ansible-lab.ts), converges it with playbooks/converge.yml, converges it again through
// the doors (changed=0), opens a shell on each server through its door with the stick, and tears
// everything down, whatever happened. Exit status 0 only when all of that worked.

import { join } from 'node:path';
import { createAnsibleLab } from './ansible-lab.js';

function recapLines(stdout: string): string {
  return stdout
    .split('\n')
    .filter((l) => /^\S+\s+:\s+ok=/.test(l))
    .join('\n');
}

async function main(): Promise<number> {
  const say = (line: string) => process.stdout.write(`ansible-lab: ${line}\n`);
  say('three server namespaces (sshd only), a controller namespace, two sticks');
  const alab = await createAnsibleLab();
  const stop = () => void alab.teardown().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for (const [n, what] of [[1, 'first converge (directly, then confirmed through each new door)'], [2, 'second converge, entirely through the doors: nothing to change']] as const) {
      say(`${what}: ansible-playbook -i ${alab.inventory} playbooks/converge.yml`);
      const started = Date.now();
      const result = await alab.playbook('playbooks/converge.yml');
      say(`converge ${n}: exit ${result.exitCode} after ${((Date.now() - started) / 1000).toFixed(1)} s\n${recapLines(result.stdout)}`);
      if (result.exitCode !== 0) {
        process.stdout.write(`${result.stdout}\n${result.stderr}\n`);
        return 1;
      }
    }
    for (const h of alab.hosts) {
      const shell = await alab.controller('ssh', ['-F', join(h.stick, '.ssh', 'config'), '-o', 'BatchMode=yes', h.alias, 'echo "a shell on $(ip -4 -o addr show ks-srv | cut -d" " -f7)"'], 60_000);
      say(`${h.name} (${h.method}, ${h.firewall}) through its door: ${shell.exitCode === 0 ? shell.stdout.trim() : `failed: ${shell.stderr.trim()}`}`);
      if (shell.exitCode !== 0) return 1;
    }
    return 0;
  } finally {
    say('tearing the lab down');
    await alab.teardown();
  }
}

process.exitCode = await main();
