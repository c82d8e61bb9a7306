// callhome as the unit tests drive it: the door loop runs where it runs for real, in connect (the
// ProxyCommand), and "ssh" is the test's runSsh, started the moment the door opens, the way the
// relay starts. --dry-run and --knock-only run in callhome itself, as they do for real.

import type { CommandContext } from '../../src/core/command.js';
import { callhome, type CallhomeDeps } from '../../src/callhome/index.js';
import type { CallhomeOptions } from '../../src/callhome/options.js';
import { connect } from '../../src/connect/index.js';
import type { DoorDeps } from '../../src/core/door/index.js';
import type { SshInvocation } from '../../src/core/door/ssh-command.js';
import type { SpaCallDeps } from '../../src/core/door/spa-method.js';

export interface TestDeps extends DoorDeps {
  readonly runSsh: (invocation: SshInvocation) => Promise<number>;
}

export async function callhomeViaProxy(
  options: CallhomeOptions,
  deps: TestDeps,
  context: Pick<CommandContext, 'stdout' | 'stderr' | 'stderrIsTTY'>,
  spa?: SpaCallDeps,
): Promise<number> {
  if (options.dryRun || options.knockOnly) {
    const full: CallhomeDeps = {
      ...deps,
      runSsh: async (invocation) => ({ code: await deps.runSsh(invocation), signal: null }),
      program: () => ['/usr/bin/node', '/stick/.knockstick/knockstick.mjs'],
      statusDir: async () => '/nonexistent',
    };
    return callhome(options, full, { ...context, invokedAs: 'callhome' }, spa);
  }
  let sshCode = 0;
  const code = await connect(
    { ...options, help: false, connectTo: undefined, name: 'callhome', report: true, statusDir: undefined },
    {
      ...deps,
      relay: async (_connection, prepared) => {
        sshCode = await deps.runSsh({ ...prepared.ssh, file: options.ssh, args: [...prepared.ssh.args, ...options.sshArgs] });
      },
    },
    context,
    spa,
  );
  return code === 0 ? sshCode : code;
}
