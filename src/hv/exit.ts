// The exit record shared between the vCPU and the monitor, shaped like KVM's `struct kvm_run`:
// one preallocated object whose fields are rewritten at every exit, never a new object per exit.

export const enum ExitReason {
  /** Port I/O: ioPort, ioSize, ioIn, ioCount, ioData. An IN completes on the next run(). */
  Io = 1,
  /** Guest-physical access where no memory region is mapped: mmioAddr, mmioSize, mmioWrite, mmioData. */
  Mmio = 2,
  /** HLT with nothing to do. */
  Hlt = 3,
  /** The interrupt window requested with requestInterruptWindow() is open. */
  IrqWindowOpen = 4,
  /** Triple fault. */
  Shutdown = 5,
  /** Breakpoint or single step, when guest debugging is enabled. */
  Debug = 6,
  /** The instruction budget ran out (the preemption timer). */
  Budget = 7,
  /** Something the core does not implement: errCs, errEip, errBytes, errReason. */
  InternalError = 8,
}

export const EXIT_REASON_NAMES: Record<number, string> = {
  1: 'io', 2: 'mmio', 3: 'hlt', 4: 'irq-window', 5: 'shutdown', 6: 'debug', 7: 'budget', 8: 'internal-error',
};

/** Largest repeat count a string I/O exit carries. */
export const IO_DATA_MAX = 1024;

export class ExitRecord {
  reason: ExitReason = ExitReason.Budget;
  /** Guest instructions retired by the run() that produced this exit. */
  instructions = 0;
  /**
   * Exceptions delivered by that run(). Each spent one step of the budget and one instruction's
   * worth of guest time (the TSC counts it), though it retired nothing. Not in kvm_run.
   */
  deliveries = 0;
  /** True when an interrupt could be injected right now (IF=1, no interrupt shadow). */
  readyForInterruptInjection = false;
  /** EFLAGS.IF at the exit. */
  interruptsEnabled = false;

  /**
   * Io and Mmio: the EIP of the instruction that made the access (an OUT or an MMIO write has
   * completed and EIP is past it; error reports name the instruction). Not in kvm_run.
   */
  insnEip = 0;

  // Io
  ioPort = 0;
  /** 1, 2 or 4 bytes per element. */
  ioSize = 1;
  /** true for IN/INS (the monitor fills ioData), false for OUT/OUTS. */
  ioIn = false;
  /** Elements in ioData (1 unless string I/O). */
  ioCount = 1;
  /** One element per transfer, zero-extended. */
  readonly ioData = new Uint32Array(IO_DATA_MAX);

  // Mmio
  mmioAddr = 0;
  mmioSize = 1;
  mmioWrite = false;
  /** Low 32 bits of the data (the monitor fills it for a read). */
  mmioData = 0;

  // InternalError
  errCs = 0;
  errEip = 0;
  errBytes: number[] = [];
  errReason = '';
}
