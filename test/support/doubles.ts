// Test doubles shared by the device tests: an IRQ line that records its level changes, a clock
// the test moves by hand, and a byte sink that keeps what it receives.
import type { ByteSink, Clock, IrqLine } from '../../src/devices/device.js';

export class RecordingIrq implements IrqLine {
  readonly changes: boolean[] = [];
  level = false;
  setLevel(high: boolean): void {
    this.changes.push(high);
    this.level = high;
  }
}

export class ManualClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
}

export class RecordingSink implements ByteSink {
  readonly bytes: number[] = [];
  writeByte(byte: number): void {
    this.bytes.push(byte);
  }
}
