// End-to-end through the real core: tiny real-mode guests, hand-assembled (assembly in comments),
// loaded as flat binaries at 0000:7C00.
import { describe, expect, it } from 'vitest';
import { LoadError } from '../../src/loaders/types.js';
import { BufferedSink, ConsoleInput } from '../../src/vmm/console.js';
import { Machine, entryRegs, entrySregs, type MachineConfig } from '../../src/vmm/machine.js';

const MiB = 1024 * 1024;

/** mov dx, 0x3f8 */
const MOV_DX_COM1 = [0xba, 0xf8, 0x03];
/** out dx, al for each byte of `s` */
function print(s: string): number[] {
  const out = [...MOV_DX_COM1];
  for (const ch of s) out.push(0xb0, ch.charCodeAt(0), 0xee); // mov al, ch; out dx, al
  return out;
}
/** mov al, v; out 0xf4, al; cli; hlt */
const exitWith = (v: number): number[] => [0xb0, v, 0xe6, 0xf4, 0xfa, 0xf4];
const CLI_HLT = [0xfa, 0xf4];

function config(code: number[], extra: Partial<MachineConfig> = {}): { cfg: MachineConfig; output: () => string } {
  const chunks: Uint8Array[] = [];
  const sink = new BufferedSink((c) => chunks.push(c));
  const cfg: MachineConfig = {
    memorySize: 4 * MiB,
    kernel: new Uint8Array(code),
    kernelPath: 'test.bin',
    cmdline: '',
    clock: 'virtual',
    rtcStartMs: Date.UTC(2000, 0, 1),
    exitPort: 'plain',
    noReboot: true,
    timeoutMs: 10_000,
    console: sink,
    hooks: { flush: () => sink.flush(), checkpoint: () => {} },
    ...extra,
  };
  return { cfg, output: () => Buffer.concat(chunks).toString('latin1') };
}

async function run(code: number[], extra: Partial<MachineConfig> = {}) {
  const { cfg, output } = config(code, extra);
  const m = new Machine(cfg);
  const result = await m.run();
  return { m, result, output: output() };
}

describe('entry state', () => {
  it('real mode: segment bases are selector * 16, 64 KiB limits, PE clear', () => {
    const s = entrySregs({ kind: 'real', cs: 0x07c0, ip: 0 });
    expect(s.cs).toMatchObject({ selector: 0x07c0, base: 0x7c00, limit: 0xffff, db: false, present: true });
    expect(s.ds).toMatchObject({ selector: 0, base: 0, limit: 0xffff });
    expect(s.cr0 & 1).toBe(0);
  });

  it('flat32: CS 0x08 and data 0x10, flat 4 GiB, 32-bit, PE set', () => {
    const s = entrySregs({ kind: 'flat32', eip: 0x100000 });
    expect(s.cs).toMatchObject({ selector: 0x08, base: 0, limit: 0xffffffff, type: 0xb, s: true, db: true, g: true, present: true });
    for (const d of [s.ds, s.es, s.fs, s.gs, s.ss]) expect(d).toMatchObject({ selector: 0x10, base: 0, limit: 0xffffffff, type: 0x3, db: true });
    expect(s.cr0 & 1).toBe(1);
    const r = entryRegs({ format: 'x', chunks: [], entry: { kind: 'flat32', eip: 0x100000 }, regs: { esi: 0x9000 }, description: '' });
    expect(r).toMatchObject({ eip: 0x100000, esi: 0x9000, eflags: 2, eax: 0 });
  });
});

describe('Machine', () => {
  it('prints on COM1 and stops with 0 on HLT with interrupts disabled', async () => {
    const { result, output } = await run([...print('Hi\n'), ...CLI_HLT]);
    expect(output).toBe('Hi\n');
    expect(result.status).toBe(0);
    expect(result.reason).toMatch(/interrupts disabled/);
  });

  it('maps the exit port: 0 → 0, other values → 1 (plain), QEMU status in qemu mode', async () => {
    expect((await run(exitWith(0))).result).toMatchObject({ status: 0, reason: 'the guest wrote 0 to the exit port' });
    expect((await run(exitWith(3))).result).toMatchObject({ status: 1, reason: 'the guest wrote 3 to the exit port' });
    expect((await run(exitWith(3), { exitPort: 'qemu' })).result.status).toBe(7);
  });

  it('stops with 4 on a triple fault', async () => {
    // lidt [0x0500] (six zero bytes: IDT limit 0); int3 → #GP → #DF → shutdown
    const { result } = await run([0x0f, 0x01, 0x1e, 0x00, 0x05, 0xcc]);
    expect(result.status).toBe(4);
    expect(result.dump.join('\n')).toMatch(/EIP=/);
  });

  it('treats resets (0xCF9, i8042 0xFE, port 0x92) as an orderly stop under no-reboot', async () => {
    const cf9 = await run([0xba, 0xf9, 0x0c, 0xb0, 0x06, 0xee, ...CLI_HLT]); // mov dx,0xcf9; mov al,6; out dx,al
    expect(cf9.result).toMatchObject({ status: 0, reset: false });
    expect(cf9.result.reason).toMatch(/reset \(port 0xcf9/);
    const kbd = await run([0xb0, 0xfe, 0xe6, 0x64, ...CLI_HLT]); // mov al,0xfe; out 0x64,al
    expect(kbd.result.reason).toMatch(/reset/);
    expect(kbd.result.status).toBe(0);
    const p92 = await run([0xb0, 0x01, 0xe6, 0x92, ...CLI_HLT]); // mov al,1; out 0x92,al
    expect(p92.result.reason).toMatch(/reset \(port 0x92\)/);
  });

  it('asks the caller to restart when rebooting is allowed', async () => {
    const { result } = await run([0xb0, 0xfe, 0xe6, 0x64, ...CLI_HLT], { noReboot: false });
    expect(result).toMatchObject({ status: 0, reset: true });
  });

  it('reads unclaimed ports as all ones', async () => {
    // mov dx,0x1234; in al,dx; out 0xf4,al → exit status 0xff → 1, reason names 255
    const { result } = await run([0xba, 0x34, 0x12, 0xec, 0xe6, 0xf4, ...CLI_HLT]);
    expect(result.reason).toBe('the guest wrote 255 to the exit port');
  });

  it('feeds console input to COM1', async () => {
    // 7c00: mov dx,0x3fd / in al,dx / test al,1 / jz 7c03 / mov dx,0x3f8 / in al,dx / cmp al,'q'
    //       je 7c14 / out dx,al / jmp 7c00 / nop / 7c14: mov al,0 / out 0xf4,al / cli / hlt
    const echo = [
      0xba, 0xfd, 0x03, 0xec, 0xa8, 0x01, 0x74, 0xfb, 0xba, 0xf8, 0x03, 0xec, 0x3c, 0x71, 0x74, 0x04, 0xee,
      0xeb, 0xed, 0x90, ...exitWith(0),
    ];
    const input = new ConsoleInput();
    input.push(new TextEncoder().encode('echo me q'));
    input.end();
    const { result, output } = await run(echo, { input });
    expect(output).toBe('echo me ');
    expect(result.status).toBe(0);
  });

  it('runs the PIT: IRQ0 wakes a halted guest (virtual clock jumps)', async () => {
    // IVT entry 8 → 0000:7C40; master PIC: base 8, only IRQ0 unmasked; PIT channel 0 mode 2 with
    // count 65536; sti; hlt. The IRQ0 handler at 7C40 exits with 0.
    const code = [
      0x31, 0xc0, // xor ax,ax
      0x8e, 0xd8, // mov ds,ax
      0xc7, 0x06, 0x20, 0x00, 0x40, 0x7c, // mov word [0x20], 0x7c40
      0xc7, 0x06, 0x22, 0x00, 0x00, 0x00, // mov word [0x22], 0
      0xb0, 0x11, 0xe6, 0x20, // ICW1
      0xb0, 0x08, 0xe6, 0x21, // ICW2: base 8
      0xb0, 0x04, 0xe6, 0x21, // ICW3
      0xb0, 0x01, 0xe6, 0x21, // ICW4
      0xb0, 0xfe, 0xe6, 0x21, // OCW1: only IRQ0
      0xb0, 0x34, 0xe6, 0x43, // PIT ch0 mode 2, lo/hi
      0xb0, 0x00, 0xe6, 0x40, 0xe6, 0x40, // count 65536 (~55 ms)
      0xfb, 0xf4, // sti; hlt
      0xeb, 0xfc, // jmp back to sti (if woken without the handler exiting)
    ];
    while (code.length < 0x40) code.push(0x90);
    code.push(...exitWith(0)); // 7c40: the IRQ0 handler
    const { m, result } = await run(code);
    expect(result.status).toBe(0);
    expect(result.reason).toBe('the guest wrote 0 to the exit port');
    // The TSC moved on with the skipped idle time: it equals guest time (1 ns per instruction).
    expect(m.vcpu.getMsrs([0x10])[0].value).toBe(BigInt(result.guestNs));
    expect(result.interruptsInjected).toBe(1);
    expect(result.guestNs).toBeGreaterThan(50e6); // ~54.9 ms of guest time, mostly skipped
    expect(result.instructions).toBeLessThan(100);
  });

  it('rejects a kernel that does not fit and a bad memory size with LoadError', () => {
    const big = new Array(3 * MiB).fill(0x90);
    expect(() => new Machine(config(big, { memorySize: 2 * MiB }).cfg)).toThrow(LoadError);
    expect(() => new Machine(config(CLI_HLT, { memorySize: MiB }).cfg)).toThrow(LoadError);
  });
});

describe('a reboot (Machine built with the machine it replaces)', () => {
  it('keeps the VM and the vCPU, resets the vCPU, loads the kernel again, and runs the same', async () => {
    // Writes 0x55 to 0x9000 (RAM outside the kernel), prints "B", exits 0.
    const code = [0xb0, 0x55, 0xa2, 0x00, 0x90, ...print('B'), ...exitWith(0)];
    const { cfg, output } = config(code);
    const first = new Machine(cfg);
    const r1 = await first.run();
    expect(r1.status).toBe(0);
    const second = new Machine(cfg, first);
    expect(second.vm).toBe(first.vm);
    expect(second.vcpu).toBe(first.vcpu);
    expect(second.vcpu.getRegs().eip).toBe(0x7c00); // the entry state again
    expect(second.vcpu.getMsrs([0x10])[0].value).toBe(0n); // the TSC restarts at 0
    expect(Array.from(second.vm.readPhys(0x9000, 1))).toEqual([0x55]); // RAM survives a reset, as on a PC
    const r2 = await second.run();
    expect(r2.status).toBe(0);
    expect(r2.instructions).toBe(r1.instructions);
    expect(output()).toBe('BB');
  });

  it('with another memory size, builds a new VM', () => {
    const { cfg } = config([...exitWith(0)]);
    const first = new Machine(cfg);
    const second = new Machine({ ...cfg, memorySize: 8 * MiB }, first);
    expect(second.vm).not.toBe(first.vm);
  });
});
