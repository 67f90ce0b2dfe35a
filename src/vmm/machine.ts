// The PC: one VM with RAM from guest-physical 0, one vCPU entered as the loader says, the
// legacy ISA devices on the port bus, and the run loop. This is the only place that knows
// which device sits at which port and on which IRQ.
//
// Port map (as on a PC/AT with a PIIX-class chipset):
//   0x020-0x021 8259A master        0x0A0-0x0A1 8259A slave      0x4D0-0x4D1 ELCR
//   0x040-0x043 8254 PIT            0x061 system control port B
//   0x060, 0x064 i8042              0x070-0x071 CMOS RTC (IRQ 8)
//   0x080 POST code                 0x092 system control port A (fast A20, reset)
//   0x0E9 debug console (stderr)    0x0F4 exit port (isa-debug-exit)
//   0x2F8-0x2FF COM2 (IRQ 3)        0x3F8-0x3FF COM1 (IRQ 4), the console
//   0xCF9 reset control

import type { ByteSink, IrqLine, MachineControl } from '../devices/device.js';
import { Uart16550 } from '../devices/uart16550.js';
import { Pit8254 } from '../devices/pit8254.js';
import { SystemControlPortB } from '../devices/port61.js';
import { PicPair } from '../devices/pic8259.js';
import { CmosRtc } from '../devices/cmos-rtc.js';
import { I8042 } from '../devices/i8042.js';
import { Port92 } from '../devices/port92.js';
import { PostCodePort } from '../devices/post-code.js';
import { DebugConsole } from '../devices/debugcon.js';
import { ExitDevice, type ExitPortMode } from '../devices/exit-device.js';
import { ResetControl } from '../devices/reset-control.js';
import { Vm } from '../hv/vm.js';
import type { Vcpu } from '../hv/vcpu.js';
import type { Regs, Segment, Sregs } from '../hv/types.js';
import { cpuidForModel, DEFAULT_CPU } from '../hv/cpu-models.js';
import { loadKernel } from '../loaders/index.js';
import { LoadError, type EntryState, type LoadResult } from '../loaders/types.js';
import { MmioBus, PortBus, hexPort } from './bus.js';
import { VirtualClock, createClock, type ClockMode, type MachineClock } from './clock.js';
import { NULL_SINK, type ConsoleInput } from './console.js';
import { RunLoop, type RunHooks, type RunResult } from './runloop.js';
import { STATUS_GUEST_FAILURE, STATUS_OK, type StopKind } from './status.js';

/** The time-stamp counter MSR (Intel SDM vol. 4, IA32_TIME_STAMP_COUNTER). */

/** Smallest and largest guest RAM; the top GiB of the 4 GiB space stays free for MMIO and ROM. */
export const MIN_MEMORY = 2 * 1024 * 1024;
export const MAX_MEMORY = 3 * 1024 * 1024 * 1024;

export interface TraceFlags {
  exits?: boolean;
  io?: boolean;
  irq?: boolean;
}

export interface MachineConfig {
  /** Bytes of RAM, a multiple of 4 KiB, MIN_MEMORY .. MAX_MEMORY. */
  memorySize: number;
  kernel: Uint8Array;
  kernelPath: string;
  initrd?: Uint8Array;
  initrdPath?: string;
  cmdline?: string;
  /** Flat binaries only. */
  loadAddr?: number;
  entry?: number;
  bits?: 16 | 32;
  clock: ClockMode;
  /** What the RTC reads at power-on (ms since the Unix epoch). */
  rtcStartMs: number;
  exitPort: ExitPortMode;
  /** A guest reset ends the run (status 0) instead of asking the caller to restart. */
  noReboot: boolean;
  /** Wall-clock limit in ms (0: none), as the user gave it (the stop line names it). */
  timeoutMs: number;
  /** Where the limit ends, in performance.now() ms (default: timeoutMs after run() starts). */
  deadline?: number;
  /** COM1 output, the console. */
  console: ByteSink;
  /** COM2 output (default: discarded). */
  serial2?: ByteSink;
  /** Port 0xE9 output (default: discarded). */
  debugcon?: ByteSink;
  /** Host input for COM1. */
  input?: ConsoleInput | null;
  hooks?: RunHooks | null;
  trace?: TraceFlags;
  traceLine?: ((line: string) => void) | null;
  /** CPU model name (see src/hv/cpu-models.ts); default pentium2. */
  cpu?: string;
  /** Most instructions per vcpu.run() (default: the run loop's). */
  sliceInstructions?: number;
}

export class Machine {
  readonly config: MachineConfig;
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly clock: MachineClock;
  readonly ports = new PortBus();
  readonly mmio = new MmioBus();
  readonly pic: PicPair;
  readonly com1: Uart16550;
  readonly com2: Uart16550;
  readonly pit: Pit8254;
  readonly rtc: CmosRtc;
  readonly i8042: I8042;
  readonly post: PostCodePort;
  readonly load: LoadResult;
  readonly loop: RunLoop;
  /** The value whose exit-port write stopped the run, as the stop line names it (-1: none). */
  exitValue = -1;
  /** The A20 gate is the OR of the i8042 output port bit and port 0x92 bit 1. */
  private a20Keyboard = true;
  private a20Port92 = false;

  /** Throws LoadError for a kernel that cannot be loaded (the CLI exits 2). */
  /**
   * `previous`: the machine this one replaces after a guest reset (--reboot). Its VM and vCPU
   * are kept — guest RAM keeps its contents, as a PC's does across a reset (and QEMU's
   * system_reset) — and reset; everything else is new. A reboot then allocates no guest RAM, TLB
   * or page map again (a guest resetting in a loop grew the process by that much per reset
   * until the collector caught up).
   */
  constructor(config: MachineConfig, previous?: Machine) {
    this.config = config;
    const mem = config.memorySize;
    if (!Number.isSafeInteger(mem) || mem % 4096 !== 0 || mem < MIN_MEMORY || mem > MAX_MEMORY) {
      throw new LoadError(`memory size ${mem} must be a multiple of 4 KiB between ${MIN_MEMORY >> 20} MiB and ${MAX_MEMORY / 2 ** 30} GiB`);
    }
    this.load = loadKernel({
      kernel: config.kernel,
      kernelPath: config.kernelPath,
      initrd: config.initrd,
      initrdPath: config.initrdPath,
      cmdline: config.cmdline,
      memorySize: mem,
      loadAddr: config.loadAddr,
      entry: config.entry,
      bits: config.bits,
    });

    const reuse = previous !== undefined && previous.config.memorySize === mem;
    if (reuse) {
      this.vm = previous.vm;
      this.vm.setA20(true);
    } else {
      this.vm = new Vm(mem);
      this.vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: mem, hostOffset: 0, readonly: false });
    }
    for (const chunk of this.load.chunks) {
      try {
        this.vm.writePhys(chunk.addr, chunk.data);
      } catch (e) {
        throw new LoadError(
          `${config.kernelPath}: cannot place ${chunk.data.length} bytes at 0x${chunk.addr.toString(16)}: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
    if (reuse) {
      this.vcpu = previous.vcpu;
      this.vcpu.reset();
    } else {
      this.vcpu = this.vm.createVcpu();
    }
    this.vcpu.setCpuid(cpuidForModel(config.cpu ?? DEFAULT_CPU));
    this.vcpu.setSregs(entrySregs(this.load.entry));
    this.vcpu.setRegs(entryRegs(this.load));

    this.clock = createClock(config.clock);
    const trace = config.trace ?? {};
    const traceLine = config.traceLine ?? null;

    this.pic = new PicPair();
    const irq = (n: number): IrqLine => {
      const line = this.pic.irqLine(n);
      return trace.irq && traceLine !== null ? tracedIrqLine(line, n, traceLine) : line;
    };
    const control = this.control('other');

    this.com1 = new Uart16550(irq(4), config.console, this.clock);
    this.com2 = new Uart16550(irq(3), config.serial2 ?? NULL_SINK, this.clock);
    this.pit = new Pit8254(this.clock, irq(0));
    this.rtc = new CmosRtc(this.clock, irq(8), { startTimeMs: config.rtcStartMs, memorySize: mem });
    this.i8042 = new I8042(this.control('keyboard'), irq(1), irq(12));
    this.post = new PostCodePort();

    const p = this.ports;
    p.register(0x20, 2, this.pic.master, 'pic-master');
    p.register(0xa0, 2, this.pic.slave, 'pic-slave');
    p.register(0x4d0, 2, this.pic.elcr, 'elcr');
    p.register(0x40, 4, this.pit, 'pit');
    p.register(0x61, 1, new SystemControlPortB(this.pit, this.clock), 'port61');
    p.register(0x60, 1, this.i8042, 'i8042-data', 0);
    p.register(0x64, 1, this.i8042, 'i8042-cmd', 1); // port 0x64 is the i8042's offset 1
    p.register(0x70, 2, this.rtc, 'rtc');
    p.register(0x80, 1, this.post, 'post');
    p.register(0x92, 1, new Port92(this.control('port92')), 'port92');
    p.register(0xe9, 1, new DebugConsole(config.debugcon ?? NULL_SINK), 'debugcon');
    p.register(0xf4, 1, new ExitDevice(control, config.exitPort), 'exit-port');
    p.register(0x2f8, 8, this.com2, 'com2');
    p.register(0x3f8, 8, this.com1, 'com1');
    p.register(0xcf9, 1, new ResetControl(control), 'reset-control');

    if (trace.io && traceLine !== null) {
      p.trace = (write, port, size, value, name) => {
        traceLine(`io: ${write ? 'out' : 'in'}${size === 1 ? 'b' : size === 2 ? 'w' : 'l'} ${hexPort(port)} ${name ?? 'unclaimed'} = 0x${value.toString(16)}`);
      };
      this.mmio.trace = (write, addr, size, value, name) => {
        traceLine(`mmio: ${write ? 'write' : 'read'}${size} 0x${addr.toString(16)} ${name ?? 'unclaimed'} = 0x${value.toString(16)}`);
      };
    }

    const input = config.input ?? null;
    if (input !== null) input.target = this.com1;

    this.loop = new RunLoop(
      { vcpu: this.vcpu, ports: this.ports, mmio: this.mmio, clock: this.clock, timers: [this.pit, this.rtc, this.com1, this.com2], timerIrqs: [0, 8, 4, 3], pic: this.pic },
      {
        timeoutMs: config.timeoutMs,
        deadline: config.deadline,
        sliceInstructions: config.sliceInstructions,
        input,
        hooks: config.hooks ?? null,
        traceExits: trace.exits ?? false,
        traceIrq: trace.irq ?? false,
        traceLine,
        onTimeWithoutInstructions: (ns) => this.advanceTsc(ns),
      },
      reuse ? previous.loop : undefined,
    );
  }

  /**
   * The core's TSC counts retired instructions (and exception deliveries). Guest time that
   * passes without them — skipped during HLT, spent on the I/O bus, or with the realtime clock
   * host time beyond the instructions' share — moves it on by the same amount: the TSC then
   * tells guest time at 1 GHz under either clock, as the PIT and the RTC do, and a guest that
   * calibrates one against another sees one consistent clock.
   */
  private advanceTsc(ns: number): void {
    const cycles = Math.round(this.clock instanceof VirtualClock ? ns / this.clock.nsPerInstruction : ns);
    if (cycles <= 0) return;
    this.vcpu.tscOffset += cycles;
  }

  /** Run until the guest stops, fails, crashes, times out, or stop() is called. */
  run(): Promise<RunResult> {
    return this.loop.run();
  }

  /** Stop the run from outside (a signal, Ctrl-A x, console matching). */
  stop(status: number, kind: StopKind, reason: string): void {
    this.loop.requestStop(status, kind, reason);
  }

  private control(source: 'keyboard' | 'port92' | 'other'): MachineControl {
    return {
      requestReset: (what: string) => {
        if (this.config.noReboot) {
          this.loop.requestStop(STATUS_OK, 'reset', `the guest asked for a reset (${what}); --no-reboot ends the run`);
        } else {
          this.loop.requestStop(STATUS_OK, 'reset', `the guest reset the machine (${what})`, true);
        }
      },
      requestExit: (status: number, _what: string) => {
        if (!this.loop.stopping) this.exitValue = this.config.exitPort === 'qemu' ? (status & 0xff) >> 1 : status;
        if (this.config.exitPort === 'qemu') {
          this.loop.requestStop(status & 0xff, 'exit-port', `the guest wrote ${(status & 0xff) >> 1} to the exit port (QEMU isa-debug-exit status ${status & 0xff})`);
        } else {
          this.loop.requestStop(status === 0 ? STATUS_OK : STATUS_GUEST_FAILURE, 'exit-port', `the guest wrote ${status} to the exit port`);
        }
      },
      setA20: (enabled: boolean) => {
        if (source === 'port92') this.a20Port92 = enabled;
        else this.a20Keyboard = enabled;
        this.vm.setA20(this.a20Keyboard || this.a20Port92);
      },
    };
  }
}

function tracedIrqLine(line: IrqLine, n: number, traceLine: (s: string) => void): IrqLine {
  let level = false;
  return {
    setLevel(high: boolean): void {
      if (high !== level) {
        level = high;
        traceLine(`irq: IRQ${n} ${high ? 'raised' : 'lowered'}`);
      }
      line.setLevel(high);
    },
  };
}

function segment(selector: number, base: number, limit: number, type: number, db: boolean, g: boolean): Segment {
  return { selector, base, limit, type, present: true, dpl: 0, db, s: true, g, avl: false, unusable: false };
}

const CR0_PE = 0x1;
const CR0_ET = 0x10;
const EFLAGS_FIXED = 0x2;

/** Segment registers and control registers for the loader's entry state. */
export function entrySregs(entry: EntryState): Sregs {
  const tr: Segment = { selector: 0, base: 0, limit: 0xffff, type: 0xb, present: true, dpl: 0, db: false, s: false, g: false, avl: false, unusable: false };
  const ldt: Segment = { selector: 0, base: 0, limit: 0xffff, type: 0x2, present: true, dpl: 0, db: false, s: false, g: false, avl: false, unusable: false };
  const common = {
    tr,
    ldt,
    gdt: { base: 0, limit: 0xffff },
    idt: { base: 0, limit: 0xffff },
    cr2: 0,
    cr3: 0,
    cr4: 0,
    efer: 0,
    apicBase: 0,
  };
  if (entry.kind === 'real') {
    const data = (): Segment => segment(0, 0, 0xffff, 0x3, false, false);
    return {
      ...common,
      cs: segment(entry.cs & 0xffff, (entry.cs & 0xffff) * 16, 0xffff, 0xb, false, false),
      ds: data(), es: data(), fs: data(), gs: data(), ss: data(),
      cr0: CR0_ET,
    };
  }
  const data = (): Segment => segment(0x10, 0, 0xffffffff, 0x3, true, true);
  return {
    ...common,
    cs: segment(0x08, 0, 0xffffffff, 0xb, true, true),
    ds: data(), es: data(), fs: data(), gs: data(), ss: data(),
    cr0: CR0_PE | CR0_ET,
  };
}

/** General registers for the loader's entry state. */
export function entryRegs(load: LoadResult): Regs {
  const r = load.regs;
  return {
    eax: r.eax ?? 0, ebx: r.ebx ?? 0, ecx: r.ecx ?? 0, edx: r.edx ?? 0,
    esi: r.esi ?? 0, edi: r.edi ?? 0, esp: r.esp ?? 0, ebp: r.ebp ?? 0,
    eip: load.entry.kind === 'real' ? load.entry.ip & 0xffff : load.entry.eip >>> 0,
    eflags: EFLAGS_FIXED,
  };
}
