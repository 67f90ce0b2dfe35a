// Hardware task switching (Intel SDM Vol. 3, 8.3): JMP/CALL to a TSS or a task gate, an
// interrupt or exception through a task gate, and IRET with EFLAGS.NT back to the linked task.
// 32-bit and 16-bit TSS layouts.

import {
  AR_P, AR_S, AR_UNUSABLE, CR0_PG, CR0_TS, CS, DS, ES, F_NT, F_VM, FS, GS, LDTR, NP, SS, SSF, TR, TS,
} from './constants.js';
import type { Cpu } from './cpu.js';
import { I_FLAGS } from './state.js';

export const TASK_JMP = 0, TASK_CALL = 1, TASK_IRET = 2, TASK_INT = 3;

// 32-bit TSS offsets.
const T32_LINK = 0x00, T32_CR3 = 0x1c, T32_EIP = 0x20, T32_EFLAGS = 0x24, T32_EAX = 0x28;
const T32_ES = 0x48, T32_LDT = 0x60, T32_TRAP = 0x64;
// 16-bit TSS offsets.
const T16_IP = 0x0e, T16_FLAGS = 0x10, T16_AX = 0x12, T16_ES = 0x22, T16_LDT = 0x2a;

/**
 * Switch to the task whose TSS descriptor is `sel` (already resolved from a task gate when
 * there was one). `source` says why; `retEip` is the EIP saved in the outgoing TSS; `error` is an
 * exception error code to push on the new task's stack (-1 for none). `ext` is the EXT bit for
 * error codes of faults raised on the way. `savedFlags` is ORed into the EFLAGS image saved in the
 * outgoing TSS (RF for a fault).
 */
export function taskSwitch(c: Cpu, sel: number, source: number, retEip: number, error: number, ext: number, savedFlags = 0): void {
  // --- the new TSS descriptor
  if ((sel & 4) !== 0) c.raise(source === TASK_IRET ? TS : 13, (sel & 0xfffc) | ext);
  c.readDescriptor(sel, ext);
  const lo = c.descLo, hi = c.descHi;
  const descAddr = c.descAddr;
  const ar = (hi >> 8) & 0xff;
  const type = ar & 0x1f; // S=0 and the type
  const busy = (type & 2) !== 0;
  const is32 = (type & 8) !== 0;
  if ((type & ~0xa) !== 0x01) c.raise(source === TASK_IRET ? TS : 13, (sel & 0xfffc) | ext);
  if (source === TASK_IRET ? !busy : busy) c.raise(source === TASK_IRET ? TS : 13, (sel & 0xfffc) | ext);
  if ((ar & AR_P) === 0) c.raise(NP, (sel & 0xfffc) | ext);
  let limit = (lo & 0xffff) | (hi & 0xf0000);
  if ((hi & 0x800000) !== 0) limit = ((limit << 12) | 0xfff) >>> 0;
  if (limit < (is32 ? 0x67 : 0x2b)) c.raise(TS, (sel & 0xfffc) | ext);
  const newBase = (lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000);

  // --- read the whole incoming state before changing anything (faults here leave the old task)
  const n = new Int32Array(8);
  const segs = new Int32Array(6);
  let newEip: number, newFlags: number, newLdt: number, newCr3 = 0, trap = 0;
  if (is32) {
    newCr3 = c.readSys32((newBase + T32_CR3) | 0);
    newEip = c.readSys32((newBase + T32_EIP) | 0);
    newFlags = c.readSys32((newBase + T32_EFLAGS) | 0);
    for (let r = 0; r < 8; r++) n[r] = c.readSys32((newBase + T32_EAX + r * 4) | 0);
    for (let s = 0; s < 6; s++) segs[s] = c.readSys16((newBase + T32_ES + s * 4) | 0);
    newLdt = c.readSys16((newBase + T32_LDT) | 0);
    trap = c.readSys16((newBase + T32_TRAP) | 0) & 1;
  } else {
    newEip = c.readSys16((newBase + T16_IP) | 0);
    newFlags = c.readSys16((newBase + T16_FLAGS) | 0);
    for (let r = 0; r < 8; r++) n[r] = c.readSys16((newBase + T16_AX + r * 2) | 0);
    for (let s = 0; s < 4; s++) segs[s] = c.readSys16((newBase + T16_ES + s * 2) | 0);
    newLdt = c.readSys16((newBase + T16_LDT) | 0);
  }

  // --- save the outgoing state into the current TSS
  const oldSel = c.segSel[TR];
  const oldBase = c.segBase[TR];
  const old32 = (c.segAr[TR] & 8) !== 0;
  let oldFlags = c.getFlags() | savedFlags;
  if (source === TASK_IRET) oldFlags &= ~F_NT;
  if (old32) {
    c.writeSys32((oldBase + T32_EIP) | 0, retEip);
    c.writeSys32((oldBase + T32_EFLAGS) | 0, oldFlags);
    for (let r = 0; r < 8; r++) c.writeSys32((oldBase + T32_EAX + r * 4) | 0, c.regs[r << 1]);
    for (let s = 0; s < 6; s++) c.writeSys16((oldBase + T32_ES + s * 4) | 0, c.segSel[s]);
  } else {
    c.writeSys16((oldBase + T16_IP) | 0, retEip);
    c.writeSys16((oldBase + T16_FLAGS) | 0, oldFlags);
    for (let r = 0; r < 8; r++) c.writeSys16((oldBase + T16_AX + r * 2) | 0, c.regs[r << 1]);
    for (let s = 0; s < 4; s++) c.writeSys16((oldBase + T16_ES + s * 2) | 0, c.segSel[s]);
  }

  // --- busy bits and the back link
  if (source === TASK_JMP || source === TASK_IRET) {
    // The outgoing task is no longer busy.
    if ((oldSel & 0xfffc) !== 0 && (oldSel & 0xfff8) + 7 <= c.gdtLimit) {
      const a = (c.gdtBase + (oldSel & 0xfff8) + 4) | 0;
      c.writeSys32(a, c.readSys32(a) & ~0x200);
    }
  }
  if (source === TASK_CALL || source === TASK_INT) {
    if (is32) c.writeSys16((newBase + T32_LINK) | 0, oldSel);
    else c.writeSys16(newBase | 0, oldSel);
    newFlags |= F_NT;
  }
  let newHi = hi;
  if (source !== TASK_IRET) {
    newHi = hi | 0x200;
    c.writeSys32((descAddr + 4) | 0, newHi);
  }

  // --- commit: TR, CR0.TS, CR3, registers, EFLAGS
  c.loadSegFromDesc(TR, sel, lo, newHi);
  c.cr0 |= CR0_TS;
  if (is32 && (c.cr0 & CR0_PG) !== 0) {
    c.cr3 = newCr3;
    c.flushTlb(false);
  }
  // A 16-bit TSS holds only the low halves; the SDM leaves the upper halves undefined
  // ("modified and not maintained", vol. 3, 7.6): they become 0xFFFF, as in Bochs.
  for (let r = 0; r < 8; r++) c.regs[r << 1] = is32 ? n[r] : 0xffff0000 | (n[r] & 0xffff);
  c.setFlagsRaw(is32 ? newFlags : (newFlags & 0xffff));
  c.eip = is32 ? newEip : newEip & 0xffff;
  c.nextEip = c.eip;
  c.brk = 1;

  // --- segment registers of the new task (faults from here on are taken in the new task)
  // Selectors first, as unusable caches, so that a fault leaves a consistent state.
  for (let s = 0; s < (is32 ? 6 : 4); s++) c.setSegRaw(s, segs[s], 0, 0, AR_UNUSABLE);
  if (!is32) { c.setSegRaw(FS, 0, 0, 0, AR_UNUSABLE); c.setSegRaw(GS, 0, 0, 0, AR_UNUSABLE); }
  c.setSegRaw(LDTR, newLdt, 0, 0, AR_UNUSABLE);
  if ((c.st[I_FLAGS] & F_VM) !== 0) {
    c.updateMode();
    for (let s = 0; s < 6; s++) c.setSegReal(s, segs[s]);
    loadLdt(c, newLdt, ext);
    c.updateMode();
  } else {
    // LDTR, SS, DS, ES, FS, GS, then CS, each against the new CPL (the RPL of the new CS), as
    // Bochs orders them. A fault on SS is taken at CPL 3, later ones at the old CPL until CS is
    // loaded (as Bochs does; the SDM's table 7-1 lists the conditions, not an order for them).
    loadLdt(c, newLdt, ext);
    const cpl = c.cpl;
    const newCpl = segs[CS] & 3;
    c.setCpl(3);
    loadTaskSs(c, segs[SS], ext, newCpl);
    c.setCpl(cpl);
    loadTaskData(c, DS, segs[DS], ext, newCpl);
    loadTaskData(c, ES, segs[ES], ext, newCpl);
    if (is32) {
      loadTaskData(c, FS, segs[FS], ext, newCpl);
      loadTaskData(c, GS, segs[GS], ext, newCpl);
    }
    loadTaskCs(c, segs[CS], ext);
  }
  if ((c.eip >>> 0) > c.segMax[CS]) c.gp(0);
  if (error >= 0) c.push(error, is32 ? 4 : 2);
  if (trap !== 0) c.pendingDebugTrap |= 0x8000; // DR6.BT: debug trap on task switch
}

function loadLdt(c: Cpu, sel: number, ext: number): void {
  if ((sel & 0xfffc) === 0) {
    c.setSegRaw(LDTR, sel, 0, 0, AR_UNUSABLE);
    return;
  }
  if ((sel & 4) !== 0) c.raise(TS, (sel & 0xfffc) | ext);
  if ((sel & 0xfff8) + 7 > c.gdtLimit) c.raise(TS, (sel & 0xfffc) | ext);
  c.readDescriptor(sel, ext);
  const ar = (c.descHi >> 8) & 0xff;
  if ((ar & 0x1f) !== 0x02) c.raise(TS, (sel & 0xfffc) | ext);
  if ((ar & AR_P) === 0) c.raise(TS, (sel & 0xfffc) | ext);
  c.loadSegFromDesc(LDTR, sel, c.descLo, c.descHi);
}

/** Read a descriptor for a task's segment register, #TS(sel) when it is outside its table. */
function taskDescriptor(c: Cpu, sel: number, ext: number): void {
  const inLdt = (sel & 4) !== 0;
  const limit = inLdt ? c.segLimit[LDTR] : c.gdtLimit;
  if (inLdt && (c.segAr[LDTR] & AR_UNUSABLE) !== 0) c.raise(TS, (sel & 0xfffc) | ext);
  if ((sel & 0xfff8) + 7 > limit) c.raise(TS, (sel & 0xfffc) | ext);
  c.readDescriptor(sel, ext);
}

function loadTaskCs(c: Cpu, sel: number, ext: number): void {
  if ((sel & 0xfffc) === 0) c.raise(TS, ext);
  taskDescriptor(c, sel, ext);
  const ar = (c.descHi >> 8) & 0xff;
  const dpl = (ar >> 5) & 3;
  if ((ar & AR_S) === 0 || (ar & 8) === 0) c.raise(TS, (sel & 0xfffc) | ext);
  if ((ar & 4) !== 0 ? dpl > (sel & 3) : dpl !== (sel & 3)) c.raise(TS, (sel & 0xfffc) | ext);
  if ((ar & AR_P) === 0) c.raise(NP, (sel & 0xfffc) | ext);
  c.loadSegFromDesc(CS, sel, c.descLo, c.descHi);
  c.updateMode();
}

function loadTaskSs(c: Cpu, sel: number, ext: number, cpl: number): void {
  if ((sel & 0xfffc) === 0) c.raise(TS, ext);
  taskDescriptor(c, sel, ext);
  const ar = (c.descHi >> 8) & 0xff;
  const dpl = (ar >> 5) & 3;
  if ((ar & AR_S) === 0 || (ar & 8) !== 0 || (ar & 2) === 0) c.raise(TS, (sel & 0xfffc) | ext);
  if ((ar & AR_P) === 0) c.raise(SSF, (sel & 0xfffc) | ext);
  if (dpl !== cpl || (sel & 3) !== cpl) c.raise(TS, (sel & 0xfffc) | ext);
  c.loadSegFromDesc(SS, sel, c.descLo, c.descHi);
  c.updateMode();
}

function loadTaskData(c: Cpu, s: number, sel: number, ext: number, cpl: number): void {
  if ((sel & 0xfffc) === 0) {
    c.setSegRaw(s, sel, 0, 0, AR_UNUSABLE);
    return;
  }
  taskDescriptor(c, sel, ext);
  const ar = (c.descHi >> 8) & 0xff;
  const dpl = (ar >> 5) & 3;
  if ((ar & AR_S) === 0 || ((ar & 8) !== 0 && (ar & 2) === 0)) c.raise(TS, (sel & 0xfffc) | ext);
  const conformingCode = (ar & 0xc) === 0xc;
  if (!conformingCode && ((sel & 3) > dpl || cpl > dpl)) c.raise(TS, (sel & 0xfffc) | ext);
  if ((ar & AR_P) === 0) c.raise(NP, (sel & 0xfffc) | ext);
  c.loadSegFromDesc(s, sel, c.descLo, c.descHi);
}
