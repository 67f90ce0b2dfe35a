// images/guests/legacy-modes.bin on the whole machine (in-process, through the real core): a
// boot sector that sends the i8042 the undefined commands 0x00 and 0x1F, counts a BCD count with
// a digit above 9 on PIT channel 2, sets the RTC's DSE bit and takes timer interrupts with the
// slave 8259A initialised by ICW1 0x18 (no ICW4: MCS-80/85 mode). Each of these stopped the run
// with a device error before the devices modelled them; now the guest runs to its end.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BufferedSink } from '../../src/vmm/console.js';
import { Machine } from '../../src/vmm/machine.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const image = path.join(root, 'images/guests/legacy-modes.bin');

describe('legacy-modes guest', () => {
  it('runs to its end: "legacy-modes: ok" and 0 to the exit port', async () => {
    const chunks: Uint8Array[] = [];
    const sink = new BufferedSink((c) => chunks.push(c));
    const m = new Machine({
      memorySize: 4 << 20,
      kernel: readFileSync(image),
      kernelPath: image,
      cmdline: '',
      clock: 'virtual',
      rtcStartMs: Date.UTC(2000, 0, 1),
      exitPort: 'plain',
      noReboot: true,
      timeoutMs: 20_000,
      console: sink,
      hooks: { flush: () => sink.flush(), checkpoint: () => {} },
    });
    const r = await m.run();
    sink.flush();
    expect({ out: Buffer.concat(chunks).toString('latin1'), reason: r.reason }).toEqual({
      out: 'legacy-modes: ok\r\n',
      reason: 'the guest wrote 0 to the exit port',
    });
    expect(r.status).toBe(0);
  });
});
