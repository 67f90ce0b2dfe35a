// Contracts shared by every emulated device. A device knows its register offsets, never its
// port numbers or MMIO addresses: the machine (src/vmm) maps it onto a bus.

/** An interrupt request line driven by a device, e.g. one input of the 8259A. */
export interface IrqLine {
  setLevel(high: boolean): void;
}

/** The machine's single clock, in nanoseconds since power-on. */
export interface Clock {
  now(): number;
}

/** A plain, versioned snapshot of a device's state (JSON-safe). */
export interface DeviceState {
  kind: string;
  version: number;
  [field: string]: unknown;
}

/** Register access by offset within the device's window (port I/O or MMIO). */
export interface RegisterDevice {
  /** Read `size` bytes (1, 2 or 4) at `offset`; returns the value zero-extended. */
  read(offset: number, size: number): number;
  /** Write the low `size` bytes of `value` at `offset`. */
  write(offset: number, size: number, value: number): void;
}

/** Common life cycle. `restore` re-derives side effects (a pending interrupt is raised again). */
export interface Device {
  reset(): void;
  save(): DeviceState;
  restore(state: DeviceState): void;
}

/**
 * A device whose state changes with time. It never ticks: it derives its counters from the
 * clock and publishes the next instant at which something happens (an output edge, an interrupt).
 * The run loop calls `advance(now)` once the clock has reached that deadline.
 */
export interface TimedDevice {
  /** Absolute clock time (ns) of the next event, or Infinity when none is pending. */
  nextDeadline(): number;
  /** Bring time-derived state (interrupt lines) up to `now`. */
  advance(now: number): void;
}

/** Where a device's output bytes go (the serial console). Implementations buffer. */
export interface ByteSink {
  writeByte(byte: number): void;
}

/** A device that may ask the machine to stop or reset (exit port, i8042 reset, port 0x92). */
export interface MachineControl {
  /** The guest asked for a system reset (i8042 0xFE, port 0x92 bit 0, port 0xCF9). */
  requestReset(source: string): void;
  /** The guest asked to end the run with an exit status (debug exit port). */
  requestExit(status: number, source: string): void;
  /** The A20 gate changed (port 0x92 bit 1, i8042 output port bit 1). */
  setA20(enabled: boolean): void;
}
