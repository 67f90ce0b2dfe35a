// The multiboot protection guests in images/guests (ring3, taskswitch, v86, faults), each run
// through the real CLI (node bin/vmrun.js). Each guest prints "<name>: ok\r\n" and writes 0 to the
// exit port when every check passed, or "<name>: FAIL <step>: <what>\r\n" and writes 1; asserting
// the exact output makes a failure show the guest's own line. The guests were checked first under
// QEMU and Bochs (images/guests/README.md, "Multiboot protection guests").
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const guest = (name: string) => path.join(root, 'images/guests', `${name}.bin`);

function vmrun(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/vmrun.js'), ...args], {
    input: '',
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runGuest(name: string) {
  const r = vmrun(['--kernel', guest(name), '--timeout', '30']);
  // Output first: on a failure it names the step; stderr names a monitor error or a crash.
  expect({ stdout: r.stdout, stderr: r.status === 0 ? '' : r.stderr }).toEqual({
    stdout: `${name}: ok\r\n`,
    stderr: '',
  });
  expect(r.status).toBe(0);
  expect(r.stderr).toMatch(/wrote 0 to the exit port/);
}

describe('multiboot protection guests through the CLI', () => {
  it('ring3: IRET to CPL 3, INT through a DPL-3 gate on the TSS stack, SYSENTER/SYSEXIT, #GP for privileged instructions and I/O, #AC, user #PF, I/O bitmap', () => {
    runGuest('ring3');
  });

  it('taskswitch: JMP to a TSS, CALL through a task gate and IRET back (NT, back link, busy bits), #DF through a task gate', () => {
    runGuest('taskswitch');
  });

  it('v86: IRET into virtual-8086 mode, IOPL-3 flags and INT through the IDT, I/O bitmap, #GP emulation of INT/IRET/CLI/STI at IOPL 0', () => {
    runGuest('v86');
  });

  it('faults: #GP/#SS/#NP from segmentation, #DE #UD #BR #OF #BP, #PF error codes and CR2, accessed/dirty bits with 4 KiB and 4 MiB pages', () => {
    runGuest('faults');
  });
});
