import { describe, expect, it } from 'vitest';
import { ExitReason, ExitRecord } from '../../src/hv/exit.js';
import type { Regs, Segment, Sregs } from '../../src/hv/types.js';
import type { RegisterDevice, TimedDevice } from '../../src/devices/device.js';
import { MmioBus, PortBus } from '../../src/vmm/bus.js';
import { RealtimeClock, VirtualClock, type MachineClock } from '../../src/vmm/clock.js';
import { ConsoleInput } from '../../src/vmm/console.js';
import { RunLoop, type LoopVcpu, type RunLoopOptions } from '../../src/vmm/runloop.js';

type Step = (ex: ExitRecord, budget: number, cpu: FakeVcpu) => void;

const seg = (selector: number): Segment => ({
  selector, base: selector * 16, limit: 0xffff, type: 3, present: true, dpl: 0, db: false, s: true, g: false, avl: false, unusable: false,
});

/** A scripted vCPU: each run() plays the next step; when the script ends it halts with IF=0. */
class FakeVcpu implements LoopVcpu {
  readonly exit = new ExitRecord();
  ready = true;
  readonly injected: number[] = [];
  readonly windowCalls: boolean[] = [];
  readonly budgets: number[] = [];
  /** Vectors injected before each run(), by run index. */
  readonly log: string[] = [];
  constructor(readonly script: Step[]) {}
  run(budget: number): number {
    this.budgets.push(budget);
    const ex = this.exit;
    ex.instructions = 0;
    const step = this.script.shift() ?? halt(false);
    step(ex, budget, this);
    return ex.reason;
  }
  get readyForInterruptInjection(): boolean {
    return this.ready;
  }
  injectInterrupt(vector: number): void {
    this.injected.push(vector);
    this.log.push(`inject ${vector}`);
  }
  requestInterruptWindow(enable: boolean): void {
    this.windowCalls.push(enable);
  }
  getRegs(): Regs {
    return { eax: 0x1234, ebx: 0, ecx: 0, edx: 0, esi: 0, edi: 0, esp: 0x7c00, ebp: 0, eip: 0x7c10, eflags: 2 };
  }
  getSregs(): Sregs {
    const s = seg(0);
    return {
      cs: s, ds: s, es: s, fs: s, gs: s, ss: s, tr: { ...s, s: false, type: 0xb }, ldt: { ...s, s: false, type: 2 },
      gdt: { base: 0, limit: 0xffff }, idt: { base: 0, limit: 0x3ff },
      cr0: 0x10, cr2: 0, cr3: 0, cr4: 0, efer: 0, apicBase: 0,
    };
  }
}

// Exit builders.
const out = (port: number, size: number, ...values: number[]): Step => (ex) => {
  ex.reason = ExitReason.Io;
  ex.instructions = 3;
  ex.ioPort = port;
  ex.ioSize = size;
  ex.ioIn = false;
  ex.ioCount = values.length;
  values.forEach((v, i) => (ex.ioData[i] = v));
};
const inp = (port: number, size: number, count = 1): Step => (ex) => {
  ex.reason = ExitReason.Io;
  ex.instructions = 2;
  ex.ioPort = port;
  ex.ioSize = size;
  ex.ioIn = true;
  ex.ioCount = count;
  ex.ioData.fill(0xabcd, 0, count);
};
const halt = (interruptsEnabled: boolean, instructions = 1): Step => (ex) => {
  ex.reason = ExitReason.Hlt;
  ex.instructions = instructions;
  ex.interruptsEnabled = interruptsEnabled;
};
const plain = (reason: ExitReason, instructions = 1): Step => (ex) => {
  ex.reason = reason;
  ex.instructions = instructions;
};
const observe = (fn: (ex: ExitRecord, budget: number, cpu: FakeVcpu) => void): Step => (ex, budget, cpu) => {
  fn(ex, budget, cpu);
  plain(ExitReason.Budget)(ex, budget, cpu);
};

class FakePic {
  readonly queue: number[] = [];
  hasInterrupt(): boolean {
    return this.queue.length > 0;
  }
  acknowledge(): number {
    return this.queue.shift() ?? 0x27;
  }
}

/** A timer that raises `vector` on the PIC once at `deadline`. */
class OneShot implements TimedDevice {
  readonly fired: number[] = [];
  constructor(public deadline: number, private readonly pic: FakePic, private readonly vector: number) {}
  nextDeadline(): number {
    return this.deadline;
  }
  advance(now: number): void {
    if (now < this.deadline) return;
    this.fired.push(now);
    this.deadline = Infinity;
    this.pic.queue.push(this.vector);
  }
}

class Port implements RegisterDevice {
  readonly writes: [number, number, number][] = [];
  constructor(private readonly value = 0x5a, private readonly onWrite?: (v: number) => void) {}
  read(): number {
    return this.value;
  }
  write(offset: number, size: number, value: number): void {
    this.writes.push([offset, size, value]);
    this.onWrite?.(value);
  }
}

interface Rig {
  cpu: FakeVcpu;
  pic: FakePic;
  ports: PortBus;
  clock: MachineClock;
  loop: RunLoop;
}

function rig(script: Step[], opts: RunLoopOptions & { timers?: (pic: FakePic) => TimedDevice[]; clock?: MachineClock } = {}): Rig {
  const cpu = new FakeVcpu(script);
  const pic = new FakePic();
  const ports = new PortBus();
  const clock = opts.clock ?? new VirtualClock();
  const loop = new RunLoop({ vcpu: cpu, ports, mmio: new MmioBus(), clock, timers: opts.timers?.(pic) ?? [], pic }, opts);
  return { cpu, pic, ports, clock, loop };
}

describe('RunLoop', () => {
  it('dispatches OUT to the port bus, string OUT element by element', async () => {
    const r = rig([out(0x3f8, 1, 0x48), out(0x3f8, 1, 0x69, 0x0a)]);
    const com1 = new Port();
    r.ports.register(0x3f8, 8, com1, 'com1');
    const res = await r.loop.run();
    expect(com1.writes).toEqual([[0, 1, 0x48], [0, 1, 0x69], [0, 1, 0x0a]]);
    expect(res.status).toBe(0);
    expect(res.instructions).toBe(3 + 3 + 1);
    expect(res.exits.byPort).toEqual({ '0x3f8': 2 });
    expect(res.exits.byReason).toEqual({ io: 2, hlt: 1 });
    expect(res.exits.total).toBe(3);
  });

  it('fills IN data for the next run(), unclaimed ports reading all ones', async () => {
    const seen: number[][] = [];
    const r = rig([
      inp(0x71, 1),
      observe((ex) => seen.push([ex.ioData[0]])),
      inp(0x71, 1, 3),
      observe((ex) => seen.push([...ex.ioData.subarray(0, 3)])),
      inp(0x1234, 2),
      observe((ex) => seen.push([ex.ioData[0]])),
    ]);
    r.ports.register(0x70, 2, new Port(0x5a), 'rtc');
    await r.loop.run();
    expect(seen).toEqual([[0x5a], [0x5a, 0x5a, 0x5a], [0xffff]]);
  });

  it('stops with 0 when the guest halts with interrupts disabled', async () => {
    const r = rig([plain(ExitReason.Budget, 10), halt(false)]);
    const res = await r.loop.run();
    expect(res.status).toBe(0);
    expect(res.reason).toMatch(/halted with interrupts disabled/);
    expect(res.dump).toEqual([]);
  });

  it('on HLT with IF=1 jumps the clock to the timer deadline and injects its interrupt', async () => {
    let clockAtWake = -1;
    const skipped: number[] = [];
    const r = rig(
      [
        plain(ExitReason.Budget, 100),
        halt(true, 1),
        observe(() => (clockAtWake = r.clock.now())),
      ],
      { timers: (pic) => [new OneShot(3000, pic, 0x20)], onTimeWithoutInstructions: (ns) => skipped.push(ns) },
    );
    const res = await r.loop.run();
    expect(skipped).toEqual([2899]); // reported once, before the run after the wake-up
    expect(r.cpu.budgets[0]).toBe(3000); // the first slice ends at the deadline
    expect(clockAtWake).toBe(3000);
    expect(r.cpu.injected).toEqual([0x20]);
    expect(res.interruptsInjected).toBe(1);
    expect(res.status).toBe(0);
  });

  it('advances a timer whose deadline passed during a slice and injects at once when ready', async () => {
    const r = rig([plain(ExitReason.Budget, 300), plain(ExitReason.Budget, 1)], { timers: (pic) => [new OneShot(300, pic, 0x28)] });
    await r.loop.run();
    expect(r.cpu.budgets[0]).toBe(300);
    expect(r.cpu.injected).toEqual([0x28]);
  });

  it('requests an interrupt window when the vCPU is not ready, and injects when it opens', async () => {
    const r = rig([
      plain(ExitReason.Budget, 1),
      (ex, b, cpu) => {
        cpu.ready = true;
        plain(ExitReason.IrqWindowOpen)(ex, b, cpu);
      },
      plain(ExitReason.Budget, 1),
    ]);
    r.cpu.ready = false;
    r.pic.queue.push(0x21);
    await r.loop.run();
    expect(r.cpu.windowCalls).toEqual([true, false]);
    expect(r.cpu.injected).toEqual([0x21]);
    expect(r.cpu.log).toEqual(['inject 33']);
  });

  it('withdraws the window request when the interrupt goes away', async () => {
    const r = rig([
      (ex, b, cpu) => {
        r.pic.queue.length = 0;
        plain(ExitReason.Budget)(ex, b, cpu);
      },
    ]);
    r.cpu.ready = false;
    r.pic.queue.push(0x21);
    await r.loop.run();
    expect(r.cpu.windowCalls).toEqual([true, false]);
    expect(r.cpu.injected).toEqual([]);
  });

  it('stops with 4 on a triple fault and dumps registers and the last exits', async () => {
    const r = rig([out(0x80, 1, 0x12), plain(ExitReason.Shutdown)]);
    const res = await r.loop.run();
    expect(res.status).toBe(4);
    expect(res.reason).toMatch(/triple fault/);
    expect(res.dump.join('\n')).toMatch(/EAX=00001234/);
    expect(res.dump.join('\n')).toMatch(/exit io outb 0x80 \(unclaimed\) = 0x12/);
    expect(res.dump.join('\n')).toMatch(/exit shutdown/);
  });

  it('stops with 3 on an internal error, naming CS:EIP, the bytes and the reason', async () => {
    const r = rig([
      (ex) => {
        ex.reason = ExitReason.InternalError;
        ex.instructions = 0;
        ex.errCs = 0x08;
        ex.errEip = 0x1234;
        ex.errBytes = [0x0f, 0x0b];
        ex.errReason = 'opcode not implemented';
      },
    ]);
    const res = await r.loop.run();
    expect(res.status).toBe(3);
    expect(res.reason).toBe('monitor error at 0008:00001234 (bytes 0f 0b): opcode not implemented');
    expect(res.reason.split('\n')).toHaveLength(1);
  });

  it('stops with 3 when a device throws', async () => {
    const r = rig([out(0x40, 1, 1)]);
    r.ports.register(0x40, 1, { read: () => 0, write: () => { throw new Error('pit: mode 7'); } }, 'pit');
    const res = await r.loop.run();
    expect(res.status).toBe(3);
    expect(res.reason).toMatch(/^monitor error at [0-9a-f]{4}:[0-9a-f]{8}( \(bytes [0-9a-f ]+\))?: pit: mode 7$/);
  });

  it('stops after the exit in which a device asked for it (the exit port)', async () => {
    const r = rig([out(0xf4, 1, 0), plain(ExitReason.Budget), plain(ExitReason.Budget)]);
    r.ports.register(0xf4, 1, new Port(0, (v) => r.loop.requestStop(v === 0 ? 0 : 1, 'exit-port', `the guest wrote ${v} to the exit port`)), 'exit');
    const res = await r.loop.run();
    expect(res.status).toBe(0);
    expect(res.reason).toBe('the guest wrote 0 to the exit port');
    expect(r.cpu.budgets).toHaveLength(1);
    r.loop.requestStop(1, 'exit-port', 'too late'); // the first stop wins
  });

  it('stops with 124 when the wall-clock timeout expires, with a dump', async () => {
    const busy: Step[] = [];
    const forever: Step = (ex, budget) => {
      ex.reason = ExitReason.Budget;
      ex.instructions = budget;
      busy.push(forever);
    };
    busy.push(forever);
    const r = rig(busy, { timeoutMs: 60, sliceInstructions: 1000 });
    const t0 = performance.now();
    const res = await r.loop.run();
    expect(res.status).toBe(124);
    expect(res.reason).toMatch(/timeout/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    expect(res.dump.join('\n')).toMatch(/EIP=00007c10/);
    expect(res.dump.join('\n')).toMatch(/last 16 exits/);
    expect(res.instructions).toBeGreaterThan(0);
  });

  it('stops with 0 when the guest halts with IF=1 and nothing could ever wake it', async () => {
    const r = rig([halt(true)]);
    const res = await r.loop.run();
    expect(res.status).toBe(0);
    expect(res.reason).toMatch(/nothing left to wake it/);
  });

  it('waits for console input while halted with no deadline, then delivers it', async () => {
    const input = new ConsoleInput();
    const received: number[] = [];
    let pic: FakePic | null = null;
    input.target = {
      rxSpace: () => 16,
      receive: (b) => {
        received.push(...b);
        pic!.queue.push(0x24);
        return b.length;
      },
    };
    const r = rig([halt(true), plain(ExitReason.Budget)], { input });
    pic = r.pic;
    setTimeout(() => input.push(new Uint8Array([0x61, 0x62])), 15);
    const res = await r.loop.run();
    expect(received).toEqual([0x61, 0x62]);
    expect(r.cpu.injected).toEqual([0x24]);
    expect(res.status).toBe(0);
  });

  it('realtime: HLT sleeps until the deadline instead of jumping', async () => {
    const clock = new RealtimeClock();
    const r = rig([halt(true), plain(ExitReason.Budget)], {
      clock,
      timers: (pic) => [new OneShot(clock.now() + 30e6, pic, 0x20)],
    });
    const t0 = performance.now();
    await r.loop.run();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(r.cpu.injected).toEqual([0x20]);
  });

  it('calls the checkpoint hook at Budget and Hlt exits and flushes at the end', async () => {
    const calls: string[] = [];
    const r = rig([out(0x80, 1, 1), plain(ExitReason.Budget)], {
      hooks: { flush: () => calls.push('flush'), checkpoint: () => calls.push('check') },
    });
    await r.loop.run();
    expect(calls.slice(0, 2)).toEqual(['check', 'check']); // budget, hlt
    expect(calls[calls.length - 1]).toBe('flush');
  });

  it('traces exits and injections when asked', async () => {
    const lines: string[] = [];
    const r = rig([out(0x3f8, 1, 0x41)], { traceExits: true, traceIrq: true, traceLine: (l) => lines.push(l) });
    r.pic.queue.push(0x20);
    await r.loop.run();
    expect(lines[0]).toMatch(/^irq: inject vector 0x20/);
    expect(lines[1]).toMatch(/^exit io outb 0x3f8 \(unclaimed\) = 0x41/);
    expect(lines[2]).toMatch(/^exit hlt/);
  });

  it('dispatches MMIO reads and writes to the MMIO bus', async () => {
    const cpu = new FakeVcpu([
      (ex) => {
        ex.reason = ExitReason.Mmio;
        ex.mmioAddr = 0xfee00020;
        ex.mmioSize = 4;
        ex.mmioWrite = false;
      },
      observe((ex) => values.push(ex.mmioData)),
      (ex) => {
        ex.reason = ExitReason.Mmio;
        ex.mmioAddr = 0xfee000b0;
        ex.mmioSize = 4;
        ex.mmioWrite = true;
        ex.mmioData = 0;
      },
    ]);
    const values: number[] = [];
    const mmio = new MmioBus();
    const dev = new Port(0x14);
    mmio.register(0xfee00000, 0x1000, dev, 'lapic');
    const loop = new RunLoop({ vcpu: cpu, ports: new PortBus(), mmio, clock: new VirtualClock(), timers: [], pic: new FakePic() });
    const res = await loop.run();
    expect(values).toEqual([0x14]);
    expect(dev.writes).toEqual([[0xb0, 4, 0]]);
    expect(res.exits.byReason.mmio).toBe(2);
  });
});

describe('RunLoop: the wall clock is looked at every few milliseconds, whatever the guest speed', () => {
  // A simulated host: the fake vCPU advances the loop's wall clock by what its work would take.
  async function overshoot(cost: (budget: number) => { ms: number; step: Step }): Promise<{ status: number; late: number; looks: number[] }> {
    let now = 0;
    const looks: number[] = [];
    const forever: Step = (ex, budget, cpu) => {
      const { ms, step } = cost(budget);
      now += ms;
      step(ex, budget, cpu);
      cpu.script.push(forever);
    };
    const r = rig([forever], { timeoutMs: 100, wallClock: () => {
      looks.push(now);
      return now;
    } });
    const res = await r.loop.run();
    return { status: res.status, late: now - 100, looks };
  }

  it('a guest retiring 0.1 MIPS (the first slice used to be a million instructions: 10 s)', async () => {
    const r = await overshoot((budget) => ({ ms: budget * 0.01, step: plain(ExitReason.Budget, budget) }));
    expect(r.status).toBe(124);
    expect(r.late).toBeLessThan(25);
  });

  it('exits that each take a millisecond (512 of them used to pass between looks)', async () => {
    const r = await overshoot(() => ({ ms: 1, step: out(0x80, 1, 0) }));
    expect(r.status).toBe(124);
    expect(r.late).toBeLessThan(25);
    // Once fitted, consecutive looks are at most a few exits apart.
    const gaps = r.looks.slice(10).map((t, k) => t - r.looks[k + 9]);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(10);
  });

  it('exception deliveries that retire nothing spend the budget (a fault loop)', async () => {
    const r = await overshoot((budget) => ({
      ms: budget * 0.001,
      step: (ex) => {
        ex.reason = ExitReason.Budget;
        ex.instructions = 0;
        ex.deliveries = budget;
      },
    }));
    expect(r.status).toBe(124);
    expect(r.late).toBeLessThan(25);
  });
});

describe('RunLoop: what can wake a halted vCPU', () => {
  it('a timer whose line is masked cannot: the run ends as idle instead of skipping ticks forever', async () => {
    let masked = true;
    const ticks: number[] = [];
    // A periodic timer on IRQ 0 every 1000 ns, masked at the PIC.
    const periodic = (pic: FakePic): TimedDevice => {
      let next = 1000;
      return {
        nextDeadline: () => next,
        advance: (now: number) => {
          while (next <= now) next += 1000;
          ticks.push(now);
          if (!masked) pic.queue.push(0x20);
        },
      };
    };
    const cpu = new FakeVcpu([halt(true)]);
    const pic = Object.assign(new FakePic(), { canWake: (irq: number) => irq !== 0 || !masked });
    const loop = new RunLoop(
      { vcpu: cpu, ports: new PortBus(), mmio: new MmioBus(), clock: new VirtualClock(), timers: [periodic(pic)], timerIrqs: [0], pic },
      { timeoutMs: 5000 },
    );
    const res = await loop.run();
    expect(res.status).toBe(0);
    expect(res.kind).toBe('idle');
    expect(ticks.length).toBeLessThan(3);
    masked = false; // (the same rig with the line open would take the tick: see the tests above)
  });
});
