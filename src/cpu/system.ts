// System instructions: segment-register loads, far transfers, INT/IRET, I/O with its permission
// checks, HLT/CLI/STI/POPF, descriptor-table and control-register instructions, MSRs, CPUID,
// SYSENTER/SYSEXIT.

import {
  AR_DB, AR_P, AR_S, AR_UNUSABLE, CR0_EM, CR0_MP, CR0_PE, CR0_PG, CR0_TS, CR4_PAE, CR4_PGE, CR4_PSE,
  CR4_TSD, CS, DS, EAX, ECX, EDX, ES, ESP, F_AC, F_ID, F_IF, F_IOPL, F_NT, F_RF, F_TF, F_VIF, F_VIP,
  F_VM, FS, GS, LDTR, NM, NP, SS, SSF, TR, TS, UD,
} from './constants.js';
import { FAULT, INT_ICEBP, INT_SOFT, descRoom, type Cpu } from './cpu.js';
import type { Insn } from './decoder.js';
import { I_FLAGS } from './state.js';
import { ea, readRM } from './ops.js';
import { x87Execute, x87Pending } from './fpu.js';
import { TASK_CALL, TASK_IRET, TASK_JMP, taskSwitch } from './task.js';
import { CPUID_MSR, CPUID_SEP, CPUID_TSC } from './cpuid.js';
import { MSR_PERFEVTSEL0, MSR_PERFEVTSEL1 } from './msrs.js';

// ------------------------------------------------------------------------------------------------
// Segment registers

export function movToSeg(c: Cpu, i: Insn, sel: number): void {
  if (i.reg === CS || i.reg > 5) c.raise(UD, -1);
  c.loadSeg(i.reg, sel);
  if (i.reg === SS) inhibitInterrupts(c);
}

export function popSeg(c: Cpu, i: Insn, s: number): void {
  // Only the selector's 16 bits are read, also with a 32-bit operand size (as Bochs does; the
  // SDM's "#SS(0) if the top of stack is not within the stack segment" names no width).
  const sel = c.peek(0, 2);
  // ESP steps in the width of the stack the selector was popped from (POP SS may change it).
  const big = c.stack32;
  c.loadSeg(s, sel);
  if (big) c.regs[ESP << 1] = (c.regs[ESP << 1] + i.osz) | 0;
  else c.regs16[ESP << 2] = c.regs16[ESP << 2] + i.osz;
  if (s === SS) inhibitInterrupts(c);
}

/** MOV SS / POP SS / STI: no interrupt before the next instruction completes. */
function inhibitInterrupts(c: Cpu): void {
  c.interruptShadow = true;
  c.brk = 1;
}

/** LES LDS LSS LFS LGS. */
export function loadFarPointer(c: Cpu, i: Insn, s: number): void {
  if (i.mod === 3) c.raise(UD, -1);
  const off = ea(c, i);
  const o = c.readMem(i.seg, off, i.osz);
  const sel = c.read16(i.seg, i.asz === 4 ? (off + i.osz) | 0 : (off + i.osz) & 0xffff);
  c.loadSeg(s, sel);
  c.setReg(i.reg, i.osz, o);
  if (s === SS) inhibitInterrupts(c);
}

export function arpl(c: Cpu, i: Insn): void {
  if (!c.pmode) c.raise(UD, -1);
  const dst = readRM(c, i, 2);
  const src = c.getReg(i.reg, 2);
  if ((dst & 3) < (src & 3)) {
    const v = (dst & ~3) | (src & 3);
    if (i.mod === 3) c.setReg(i.rm, 2, v);
    else c.write16(i.seg, ea(c, i), v);
    c.setArith(0x40, 0x40);
  } else {
    c.setArith(0, 0x40);
  }
}

// ------------------------------------------------------------------------------------------------
// Far transfers

/** Push CS and the return EIP as one step: a fault on the second push leaves ESP as it was. */
function pushReturn(c: Cpu, size: number): void {
  const sp0 = c.regs[ESP << 1];
  try {
    c.push(c.segSel[CS], size);
    c.push(c.nextEip, size);
  } catch (e) {
    c.regs[ESP << 1] = sp0;
    throw e;
  }
}

/** Load CS from a checked descriptor at the current privilege and continue at `off`. */
function enterCode(c: Cpu, sel: number, lo: number, hi: number, off: number): void {
  c.loadSegFromDesc(CS, (sel & 0xfffc) | c.cpl, lo, hi);
  c.updateMode();
  c.nextEip = off;
  c.brk = 1;
}

/** A real-mode / virtual-8086 far transfer: CS = sel (base sel × 16), IP = off. */
function enterReal(c: Cpu, sel: number, off: number): void {
  c.setSegReal(CS, sel);
  c.updateMode();
  c.nextEip = off;
  c.brk = 1;
}

/**
 * A far JMP/CALL in protected mode to `sel`: a code segment, a call gate, a TSS or a task gate.
 * Returns true when it was handled here (gates and tasks); false leaves a code segment whose
 * descriptor is in descLo/descHi, already checked, for the caller to load.
 */
function farTarget(c: Cpu, i: Insn, sel: number, isCall: boolean): boolean {
  if ((sel & 0xfffc) === 0) c.gp(0);
  c.readDescriptor(sel, 0);
  const lo = c.descLo, hi = c.descHi;
  const ar = (hi >> 8) & 0xff;
  const dpl = (ar >> 5) & 3;
  if ((ar & AR_S) === 0) {
    const type = ar & 0xf;
    switch (type) {
      case 0x1: case 0x9: case 0x5: { // available TSS (16/32) or a task gate
        if (dpl < c.cpl || dpl < (sel & 3)) c.gp(sel & 0xfffc);
        if ((ar & AR_P) === 0) c.raise(NP, sel & 0xfffc);
        const tss = type === 0x5 ? lo >>> 16 : sel;
        taskSwitch(c, tss, isCall ? TASK_CALL : TASK_JMP, c.nextEip, -1, 0);
        return true;
      }
      case 0x4: case 0xc: // call gate
        if (dpl < c.cpl || dpl < (sel & 3)) c.gp(sel & 0xfffc);
        if ((ar & AR_P) === 0) c.raise(NP, sel & 0xfffc);
        callGate(c, i, lo, hi, isCall);
        return true;
      default:
        c.gp(sel & 0xfffc);
    }
  }
  if ((ar & 8) === 0) c.gp(sel & 0xfffc);
  if ((ar & 4) !== 0) {
    if (dpl > c.cpl) c.gp(sel & 0xfffc);
  } else if ((sel & 3) > c.cpl || dpl !== c.cpl) {
    c.gp(sel & 0xfffc);
  }
  if ((ar & AR_P) === 0) c.raise(NP, sel & 0xfffc);
  return false;
}

/** JMP or CALL through a call gate (descriptor lo/hi), with the stack switch of an inner call. */
function callGate(c: Cpu, i: Insn, glo: number, ghi: number, isCall: boolean): void {
  const gate32 = (ghi & 0x800) !== 0;
  const target = (glo >>> 16) & 0xffff;
  const offset = gate32 ? (ghi & 0xffff0000) | (glo & 0xffff) : glo & 0xffff;
  const params = ghi & 0x1f;
  if ((target & 0xfffc) === 0) c.gp(0);
  c.readDescriptor(target, 0);
  const lo = c.descLo, hi = c.descHi, csAddr = c.descAddr;
  const ar = (hi >> 8) & 0xff;
  const dpl = (ar >> 5) & 3;
  if ((ar & AR_S) === 0 || (ar & 8) === 0 || dpl > c.cpl) c.gp(target & 0xfffc);
  const conforming = (ar & 4) !== 0;
  if (!isCall && !conforming && dpl !== c.cpl) c.gp(target & 0xfffc);
  if ((ar & AR_P) === 0) c.raise(NP, target & 0xfffc);
  if ((offset >>> 0) > limitOf(hi, lo)) c.gp(0);
  const size = gate32 ? 4 : 2;
  if (!isCall || conforming || dpl === c.cpl) {
    if (isCall) pushReturn(c, size);
    enterCode(c, target, lo, hi, offset);
    return;
  }
  // A call to an inner privilege level: the new stack from the TSS, the parameters copied
  // across. Everything is checked (and the parameters read) before anything changes.
  const newCpl = dpl;
  c.tssStack(newCpl, 0);
  const newSs = c.tssSs, newEsp = c.tssEsp;
  if ((newSs & 0xfffc) === 0) c.raise(TS, 0);
  c.readDescriptor(newSs, 0, TS);
  const slo = c.descLo, shi = c.descHi, ssAddr = c.descAddr;
  const sar = (shi >> 8) & 0xff;
  if ((newSs & 3) !== newCpl || ((sar >> 5) & 3) !== newCpl || (sar & AR_S) === 0 || (sar & 8) !== 0 || (sar & 2) === 0) {
    c.raise(TS, newSs & 0xfffc);
  }
  if ((sar & AR_P) === 0) c.raise(SSF, newSs & 0xfffc);
  if (!descRoom(slo, shi, newEsp, (4 + params) * size)) c.raise(SSF, newSs & 0xfffc);
  const oldSs = c.segSel[SS];
  // The caller's stack pointer as the stack uses it (SP for a 16-bit stack, as Bochs pushes it).
  const oldEsp = c.stack32 ? c.regs[ESP << 1] : c.regs16[ESP << 2];
  const oldCs = c.segSel[CS];
  const ret = c.nextEip;
  // The parameters are read from the caller's stack now; a fault there (#SS(0)) is raised
  // after SS:ESP are on the new stack, which is where the SDM's order of operations (and Bochs)
  // takes it, with the caller's state otherwise intact.
  let readFault = -1, readError = 0;
  try {
    for (let k = 0; k < params; k++) callParams[k] = c.peek(k * size, size);
  } catch (e) {
    if (e !== FAULT) throw e;
    readFault = c.excVector;
    readError = c.excError;
  }
  const old0 = c.segSel[SS], old1 = c.segBase[SS], old2 = c.segLimit[SS], old3 = c.segAr[SS];
  const oldFullEsp = c.regs[ESP << 1], oldCpl = c.cpl;
  c.descAddr = ssAddr;
  c.loadSegFromDesc(SS, newSs, slo, shi);
  // A 16-bit stack gets SP only; ESP's upper half stays the caller's.
  if ((shi & 0x400000) !== 0) c.regs[ESP << 1] = newEsp;
  else c.regs16[ESP << 2] = newEsp;
  c.updateMode();
  c.setCpl(newCpl); // the pushes are made at the new privilege level
  c.push(oldSs, size);
  c.push(oldEsp, size);
  if (readFault >= 0) {
    c.setSegRaw(SS, old0, old1, old2, old3);
    c.regs[ESP << 1] = oldFullEsp;
    c.updateMode();
    c.setCpl(oldCpl);
    c.raise(readFault, readError);
  }
  for (let k = params - 1; k >= 0; k--) c.push(callParams[k], size);
  c.push(oldCs, size);
  c.push(ret, size);
  c.descAddr = csAddr;
  c.loadSegFromDesc(CS, (target & 0xfffc) | newCpl, lo, hi);
  c.updateMode();
  c.nextEip = offset;
  c.brk = 1;
}

/** The parameters a call gate copies (at most 31). */
const callParams = new Int32Array(32);

function limitOf(hi: number, lo: number): number {
  let limit = (lo & 0xffff) | (hi & 0xf0000);
  if ((hi & 0x800000) !== 0) limit = ((limit << 12) | 0xfff) >>> 0;
  return limit;
}

export function farJmp(c: Cpu, i: Insn, sel: number, off: number): void {
  sel &= 0xffff;
  off = i.osz === 4 ? off : off & 0xffff;
  if (!c.pmode) return enterReal(c, sel, off);
  if (farTarget(c, i, sel, false)) return;
  if ((off >>> 0) > limitOf(c.descHi, c.descLo)) c.gp(0);
  enterCode(c, sel, c.descLo, c.descHi, off);
}

export function farCall(c: Cpu, i: Insn, sel: number, off: number): void {
  sel &= 0xffff;
  off = i.osz === 4 ? off : off & 0xffff;
  if (!c.pmode) {
    pushReturn(c, i.osz);
    return enterReal(c, sel, off);
  }
  if (farTarget(c, i, sel, true)) return;
  const lo = c.descLo, hi = c.descHi;
  if ((off >>> 0) > limitOf(hi, lo)) c.gp(0);
  pushReturn(c, i.osz);
  enterCode(c, sel, lo, hi, off);
}

export function farRet(c: Cpu, i: Insn, extra: number): void {
  const size = i.osz;
  const off = c.peek(0, size);
  const sel = c.peek(size, size) & 0xffff;
  if (!c.pmode) {
    c.adjustSp(2 * size + extra);
    return enterReal(c, sel, size === 4 ? off : off & 0xffff);
  }
  const target = size === 4 ? off : off & 0xffff;
  const outer = checkReturnCs(c, sel, target);
  if (!outer) {
    c.adjustSp(2 * size + extra);
    commitReturnCs(c, sel);
    c.nextEip = target;
    c.brk = 1;
    return;
  }
  // Return to an outer privilege level: SS:ESP are popped too. Everything is checked before
  // anything changes, so that a fault leaves the caller's state as it was.
  const newEsp = c.peek(2 * size + extra, size);
  const newSs = c.peek(3 * size + extra, size) & 0xffff;
  checkReturnSs(c, newSs, sel & 3, SSF);
  commitReturnCs(c, sel);
  commitOuterStack(c, newSs, newEsp, size, extra);
  c.nextEip = target;
  c.brk = 1;
}

// The code segment descriptor checked by checkReturnCs, for commitReturnCs.
let retCsLo = 0, retCsHi = 0, retCsAddr = 0;
// The stack segment descriptor checked by checkReturnSs, for commitOuterStack.
let retSsLo = 0, retSsHi = 0, retSsAddr = 0;

/**
 * The checks of RETF/IRET on the code segment `sel` they return to (#GP, #NP) and on the return
 * offset (#GP(0)). Returns whether the return goes to an outer privilege level.
 */
function checkReturnCs(c: Cpu, sel: number, target: number): boolean {
  if ((sel & 0xfffc) === 0) c.gp(0);
  const rpl = sel & 3;
  if (rpl < c.cpl) c.gp(sel & 0xfffc);
  c.readDescriptor(sel, 0);
  const lo = c.descLo, hi = c.descHi;
  const ar = (hi >> 8) & 0xff;
  const dpl = (ar >> 5) & 3;
  if ((ar & AR_S) === 0 || (ar & 8) === 0) c.gp(sel & 0xfffc);
  if ((ar & 4) !== 0 ? dpl > rpl : dpl !== rpl) c.gp(sel & 0xfffc);
  if ((ar & AR_P) === 0) c.raise(NP, sel & 0xfffc);
  if ((target >>> 0) > limitOf(hi, lo)) c.gp(0);
  retCsLo = lo; retCsHi = hi; retCsAddr = c.descAddr;
  return rpl > c.cpl;
}

function commitReturnCs(c: Cpu, sel: number): void {
  c.descAddr = retCsAddr;
  c.loadSegFromDesc(CS, sel, retCsLo, retCsHi); // CPL = RPL
  c.updateMode();
}

/**
 * The checks on the SS popped by a return to the outer level `rpl` (#GP(0), #GP(sel), and for a
 * not-present segment `absent`: #SS(sel) for RETF, #NP(sel) for IRET, as the SDM lists them).
 */
function checkReturnSs(c: Cpu, ss: number, rpl: number, absent: number): void {
  if ((ss & 0xfffc) === 0) c.gp(0);
  c.readDescriptor(ss, 0);
  const ar = (c.descHi >> 8) & 0xff;
  if ((ss & 3) !== rpl || ((ar >> 5) & 3) !== rpl || (ar & AR_S) === 0 || (ar & 8) !== 0 || (ar & 2) === 0) {
    c.gp(ss & 0xfffc);
  }
  if ((ar & AR_P) === 0) c.raise(absent, ss & 0xfffc);
  retSsLo = c.descLo; retSsHi = c.descHi; retSsAddr = c.descAddr;
}

/** Load the checked outer SS:ESP (+ `extra`, RETF imm) and null what the new CPL may not use. */
function commitOuterStack(c: Cpu, ss: number, esp: number, size: number, extra: number): void {
  c.descAddr = retSsAddr;
  c.loadSegFromDesc(SS, ss, retSsLo, retSsHi);
  c.updateMode();
  if (c.stack32) c.regs[ESP << 1] = (size === 4 ? esp : esp & 0xffff) + extra;
  else c.regs16[ESP << 2] = esp + extra;
  // Data segments the new privilege may not use become null.
  for (let s = ES; s <= GS; s++) {
    if (s === CS || s === SS) continue;
    const ar = c.segAr[s];
    if ((ar & AR_UNUSABLE) !== 0) continue;
    const dpl = (ar >> 5) & 3;
    const conformingCode = (ar & 0x1c) === 0x1c;
    if ((ar & AR_S) !== 0 && !conformingCode && dpl < c.cpl) c.setSegRaw(s, 0, 0, 0, AR_UNUSABLE);
  }
}

// ------------------------------------------------------------------------------------------------
// Interrupts

export function softInt(c: Cpu, vector: number, isTrapException: boolean): void {
  if (c.vm86 && ((c.st[I_FLAGS] & F_IOPL) >>> 12) < 3 && !isTrapException) {
    if ((c.cr4 & 1) !== 0) c.internalError('CR4.VME interrupt redirection is not implemented');
    c.gp(0);
  }
  c.deliverInterrupt(vector, INT_SOFT, -1);
}

export function icebp(c: Cpu): void {
  c.deliverInterrupt(1, INT_ICEBP, -1);
}

export function iret(c: Cpu, i: Insn): void {
  const size = i.osz;
  c.materialize();
  if ((c.cr0 & CR0_PE) === 0) {
    const ip = c.peek(0, size);
    const cs = c.peek(size, size) & 0xffff;
    const fl = c.peek(2 * size, size);
    c.adjustSp(3 * size);
    c.setSegReal(CS, cs);
    const keep = size === 4 ? 0x1a0000 | F_VM : 0xffff0000 | 0; // VM, VIF, VIP unchanged
    c.setFlagsRaw((c.st[I_FLAGS] & keep) | (fl & ~keep));
    c.nextEip = size === 4 ? ip : ip & 0xffff;
    c.updateMode();
    c.brk = 1;
    return;
  }
  if (c.vm86) {
    if (((c.st[I_FLAGS] & F_IOPL) >>> 12) < 3) {
      if ((c.cr4 & 1) !== 0) c.internalError('CR4.VME IRET is not implemented');
      c.gp(0);
    }
    const ip = c.peek(0, size);
    const cs = c.peek(size, size) & 0xffff;
    const fl = c.peek(2 * size, size);
    c.adjustSp(3 * size);
    c.setSegReal(CS, cs);
    const keep = F_VM | F_IOPL | F_VIP | F_VIF | (size === 2 ? 0xffff0000 | 0 : 0);
    c.setFlagsRaw((c.st[I_FLAGS] & keep) | (fl & ~keep));
    c.nextEip = size === 4 ? ip : ip & 0xffff;
    c.updateMode();
    c.brk = 1;
    return;
  }
  if ((c.st[I_FLAGS] & F_NT) !== 0) {
    // Return to the task in the back link of the current TSS.
    const link = c.readSys16(c.segBase[TR]);
    taskSwitch(c, link, TASK_IRET, c.nextEip, -1, 0);
    return;
  }
  const ip = c.peek(0, size);
  const sel = c.peek(size, size) & 0xffff;
  const fl = c.peek(2 * size, size);
  if ((fl & F_VM) !== 0 && c.cpl === 0 && size === 4) {
    // Return to virtual-8086 mode.
    const esp = c.peek(12, 4), ss = c.peek(16, 4), es = c.peek(20, 4), ds = c.peek(24, 4);
    const fs = c.peek(28, 4), gs = c.peek(32, 4);
    c.setFlagsRaw(fl);
    c.updateMode();
    for (const [s, v] of [[CS, sel], [SS, ss], [ES, es], [DS, ds], [FS, fs], [GS, gs]] as const) c.setSegReal(s, v);
    c.regs[ESP << 1] = esp;
    c.updateMode();
    c.nextEip = ip & 0xffff;
    c.brk = 1;
    return;
  }
  const target = size === 4 ? ip : ip & 0xffff;
  const oldCpl = c.cpl;
  const outer = checkReturnCs(c, sel, target);
  let newEsp = 0, newSs = 0;
  if (outer) {
    newEsp = c.peek(3 * size, size);
    newSs = c.peek(4 * size, size) & 0xffff;
    checkReturnSs(c, newSs, sel & 3, NP);
  }
  // EFLAGS: IOPL, VIF and VIP only at CPL 0; IF only when CPL <= IOPL; VM not here (the
  // return to virtual-8086 mode is above).
  let changeable = 0x1000000 - 1; // bits 0-23
  changeable &= ~(F_VM | 0x2 | 0x8 | 0x20 | 0x8000);
  if (oldCpl > 0) changeable &= ~(F_IOPL | F_VIF | F_VIP);
  if (oldCpl > ((c.st[I_FLAGS] & F_IOPL) >>> 12)) changeable &= ~F_IF;
  if (size === 2) changeable &= 0xffff;
  c.setFlagsRaw((c.st[I_FLAGS] & ~changeable) | (fl & changeable));
  commitReturnCs(c, sel);
  if (outer) commitOuterStack(c, newSs, newEsp, size, 0);
  else c.adjustSp(3 * size);
  c.nextEip = target;
  c.brk = 1;
}

// ------------------------------------------------------------------------------------------------
// Flags and interrupt enable

function iopl(c: Cpu): number {
  return (c.st[I_FLAGS] & F_IOPL) >>> 12;
}

export function cli(c: Cpu): void {
  if ((c.pmode && c.cpl > iopl(c)) || (c.vm86 && iopl(c) < 3)) {
    if ((c.cr4 & 3) !== 0) c.internalError('CLI with CR4.VME/PVI is not implemented');
    c.gp(0);
  }
  c.st[I_FLAGS] &= ~F_IF;
}

export function sti(c: Cpu): void {
  if ((c.pmode && c.cpl > iopl(c)) || (c.vm86 && iopl(c) < 3)) {
    if ((c.cr4 & 3) !== 0) c.internalError('STI with CR4.VME/PVI is not implemented');
    c.gp(0);
  }
  if ((c.st[I_FLAGS] & F_IF) === 0) {
    c.st[I_FLAGS] |= F_IF;
    inhibitInterrupts(c);
  }
}

export function pushf(c: Cpu, i: Insn): void {
  if (c.vm86 && iopl(c) < 3) c.gp(0);
  const f = c.getFlags() & ~(F_VM | F_RF);
  c.push(i.osz === 4 ? f : f & 0xffff, i.osz);
}

export function popf(c: Cpu, i: Insn): void {
  if (c.vm86 && iopl(c) < 3) c.gp(0);
  const v = c.peek(0, i.osz);
  c.adjustSp(i.osz);
  let changeable = F_TF | F_NT | 0x8d5 | 0x400 | F_AC | F_ID | F_IF | F_IOPL;
  if (c.pmode || c.vm86) {
    if (c.cpl > 0) changeable &= ~F_IOPL;
    if (c.cpl > iopl(c)) changeable &= ~F_IF;
  }
  if (i.osz === 2) changeable &= 0xffff;
  c.materialize();
  c.setFlagsRaw((c.st[I_FLAGS] & ~changeable) | (v & changeable));
  c.updateMode(); // EFLAGS.AC decides alignment checking
  c.brk = 1; // TF/IF may have changed
}

export function hlt(c: Cpu): void {
  if (c.cpl !== 0) c.gp(0);
  c.hltExit();
}

// ------------------------------------------------------------------------------------------------
// I/O

/** #GP unless CPL <= IOPL or the TSS I/O permission bitmap allows every byte of the access. */
function checkIo(c: Cpu, port: number, size: number): void {
  if (!c.vm86 && (!c.pmode || c.cpl <= iopl(c))) return;
  const trAr = c.segAr[TR];
  if ((trAr & 0xf) !== 0xb && (trAr & 0xf) !== 0x9) c.gp(0); // only a 32-bit TSS has a bitmap
  const base = c.segBase[TR];
  if (c.segLimit[TR] < 0x67) c.gp(0);
  const mapBase = c.readSys16((base + 0x66) | 0);
  const byteOff = mapBase + (port >>> 3);
  if (byteOff + 1 > c.segLimit[TR]) c.gp(0);
  const bits = c.readSys16((base + byteOff) | 0);
  const m = ((1 << size) - 1) << (port & 7);
  if ((bits & m) !== 0) c.gp(0);
}

export function inPort(c: Cpu, port: number, size: number): void {
  checkIo(c, port, size);
  c.pendingIn = size;
  c.pendingIns = false;
  c.ioExit(port, size, true, 0);
}

export function outPort(c: Cpu, port: number, size: number, value: number): void {
  checkIo(c, port, size);
  c.ioExit(port, size, false, size === 4 ? value : value & (size === 2 ? 0xffff : 0xff));
}

export function ins(c: Cpu, i: Insn, size: number): void {
  const port = c.regs16[EDX << 2];
  checkIo(c, port, size);
  const rep = (i.prefix & 3) !== 0;
  if (rep && (i.asz === 4 ? c.regs[ECX << 1] : c.regs16[ECX << 2]) === 0) return;
  const di = i.asz === 4 ? c.regs[14] : c.regs16[28];
  c.probeWrite(ES, di, size);
  c.pendingIn = size;
  c.pendingIns = true;
  c.pendingInsRep = rep;
  c.pendingInsLen = i.len;
  c.pendingInsAsz = i.asz;
  c.nextEip = c.eip; // completed (and EIP advanced) when the data arrives
  c.ioExit(port, size, true, 0);
}

export function outs(c: Cpu, i: Insn, size: number): void {
  const port = c.regs16[EDX << 2];
  checkIo(c, port, size);
  const rep = (i.prefix & 3) !== 0;
  let n = i.asz === 4 ? c.regs[ECX << 1] : c.regs16[ECX << 2];
  if (rep && n === 0) return;
  const si = i.asz === 4 ? c.regs[12] : c.regs16[24];
  const v = c.readMem(i.segOvr >= 0 ? i.segOvr : DS, si, size);
  const step = (c.st[I_FLAGS] & 0x400) !== 0 ? -size : size;
  if (i.asz === 4) c.regs[12] = (si + step) | 0;
  else c.regs16[24] = si + step;
  if (rep) {
    n = i.asz === 4 ? (n - 1) | 0 : (n - 1) & 0xffff;
    if (i.asz === 4) c.regs[ECX << 1] = n;
    else c.regs16[ECX << 2] = n;
    if (n !== 0) c.nextEip = c.eip;
  }
  c.ioExit(port, size, false, v);
}

// ------------------------------------------------------------------------------------------------
// x87 escape and WAIT

export function fwait(c: Cpu): void {
  if ((c.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) c.raise(NM, -1);
  x87Pending(c);
}

export function fpu(c: Cpu, i: Insn): void {
  if ((c.cr0 & (CR0_EM | CR0_TS)) !== 0) c.raise(NM, -1);
  x87Execute(c, i);
}

// ------------------------------------------------------------------------------------------------
// Privileged and descriptor instructions

export function requireCpl0(c: Cpu): void {
  if ((c.pmode || c.vm86) && c.cpl !== 0) c.gp(0);
}

export function clts(c: Cpu): void {
  requireCpl0(c);
  c.cr0 &= ~CR0_TS;
}

function requirePmode(c: Cpu): void {
  if (!c.pmode) c.raise(UD, -1);
}

export function grp6(c: Cpu, i: Insn): void {
  switch (i.reg) {
    case 0: // SLDT
      requirePmode(c);
      storeSel(c, i, c.segSel[LDTR]);
      return;
    case 1: // STR
      requirePmode(c);
      storeSel(c, i, c.segSel[TR]);
      return;
    case 2: { // LLDT
      requirePmode(c);
      requireCpl0(c);
      const sel = readRM(c, i, 2);
      if ((sel & 0xfffc) === 0) {
        c.setSegRaw(LDTR, sel, 0, 0, AR_UNUSABLE);
        return;
      }
      if ((sel & 4) !== 0) c.gp(sel & 0xfffc);
      c.readDescriptor(sel, 0);
      const ar = (c.descHi >> 8) & 0xff;
      if ((ar & 0x1f) !== 0x02) c.gp(sel & 0xfffc);
      if ((ar & AR_P) === 0) c.raise(NP, sel & 0xfffc);
      c.loadSegFromDesc(LDTR, sel, c.descLo, c.descHi);
      return;
    }
    case 3: { // LTR
      requirePmode(c);
      requireCpl0(c);
      const sel = readRM(c, i, 2);
      if ((sel & 0xfffc) === 0 || (sel & 4) !== 0) c.gp(sel & 0xfffc);
      c.readDescriptor(sel, 0);
      const ar = (c.descHi >> 8) & 0xff;
      if ((ar & 0x17) !== 0x01) c.gp(sel & 0xfffc); // available 16- or 32-bit TSS
      if ((ar & AR_P) === 0) c.raise(NP, sel & 0xfffc);
      const hi = c.descHi | 0x200; // mark busy
      c.writeSys32((c.descAddr + 4) | 0, hi);
      c.loadSegFromDesc(TR, sel, c.descLo, hi);
      return;
    }
    case 4: case 5: { // VERR / VERW
      requirePmode(c);
      const sel = readRM(c, i, 2);
      c.setArith(verify(c, sel, i.reg === 5) ? 0x40 : 0, 0x40);
      return;
    }
    default:
      c.raise(UD, -1);
  }
}

function storeSel(c: Cpu, i: Insn, v: number): void {
  if (i.mod === 3) c.setReg(i.rm, i.osz, v);
  else c.write16(i.seg, ea(c, i), v);
}

/** Load a descriptor for LAR/LSL/VERR/VERW without faulting; false when outside the table. */
function peekDescriptor(c: Cpu, sel: number): boolean {
  if ((sel & 0xfffc) === 0) return false;
  const table = (sel & 4) !== 0 ? LDTR : -1;
  const limit = table >= 0 ? c.segLimit[LDTR] : c.gdtLimit;
  if (table >= 0 && (c.segAr[LDTR] & AR_UNUSABLE) !== 0) return false;
  if ((sel & 0xfff8) + 7 > limit) return false;
  c.readDescriptor(sel, 0);
  return true;
}

function verify(c: Cpu, sel: number, write: boolean): boolean {
  if (!peekDescriptor(c, sel)) return false;
  const ar = (c.descHi >> 8) & 0xff;
  if ((ar & AR_S) === 0) return false;
  const dpl = (ar >> 5) & 3;
  const conforming = (ar & 0xc) === 0xc;
  if (!conforming && (dpl < c.cpl || dpl < (sel & 3))) return false;
  if (write) return (ar & 8) === 0 && (ar & 2) !== 0;
  return (ar & 8) === 0 || (ar & 2) !== 0;
}

export function larLsl(c: Cpu, i: Insn, lsl: boolean): void {
  requirePmode(c);
  const sel = readRM(c, i, 2);
  let ok = peekDescriptor(c, sel);
  if (ok) {
    const ar = (c.descHi >> 8) & 0xff;
    const dpl = (ar >> 5) & 3;
    if ((ar & AR_S) === 0) {
      const type = ar & 0xf;
      const valid = lsl ? [1, 2, 3, 9, 11] : [1, 2, 3, 4, 5, 9, 11, 12];
      if (!valid.includes(type)) ok = false;
    }
    const conforming = (ar & 0x1c) === 0x1c;
    if (ok && !conforming && (dpl < c.cpl || dpl < (sel & 3))) ok = false;
  }
  if (!ok) {
    c.setArith(0, 0x40);
    return;
  }
  // LAR: the second descriptor dword masked with 0x00FxFF00; the SDM leaves x (limit 19:16)
  // undefined, Bochs keeps it, and so does this.
  const v = lsl ? limitOf(c.descHi, c.descLo) : c.descHi & 0x00ffff00;
  c.setReg(i.reg, i.osz, v);
  c.setArith(0x40, 0x40);
}

export function grp7(c: Cpu, i: Insn): void {
  switch (i.reg) {
    case 0: case 1: { // SGDT / SIDT
      if (i.mod === 3) c.raise(UD, -1);
      const off = ea(c, i);
      const base = i.reg === 0 ? c.gdtBase : c.idtBase;
      const limit = i.reg === 0 ? c.gdtLimit : c.idtLimit;
      c.write16(i.seg, off, limit);
      c.write32(i.seg, i.asz === 4 ? (off + 2) | 0 : (off + 2) & 0xffff, i.osz === 4 ? base : base & 0xffffff);
      return;
    }
    case 2: case 3: { // LGDT / LIDT
      if (i.mod === 3) c.raise(UD, -1);
      requireCpl0(c);
      const off = ea(c, i);
      const limit = c.read16(i.seg, off);
      let base = c.read32(i.seg, i.asz === 4 ? (off + 2) | 0 : (off + 2) & 0xffff);
      if (i.osz === 2) base &= 0xffffff;
      if (i.reg === 2) { c.gdtBase = base; c.gdtLimit = limit; } else { c.idtBase = base; c.idtLimit = limit; }
      return;
    }
    case 4: { // SMSW
      const v = c.cr0;
      if (i.mod === 3) c.setReg(i.rm, i.osz, i.osz === 4 ? v : v & 0xffff);
      else c.write16(i.seg, ea(c, i), v & 0xffff);
      return;
    }
    case 6: { // LMSW: may set PE but not clear it
      requireCpl0(c);
      const v = readRM(c, i, 2);
      const keepPe = c.cr0 & CR0_PE;
      setCr0(c, (c.cr0 & ~0xe) | (v & 0xf) | keepPe);
      return;
    }
    case 7: { // INVLPG
      if (i.mod === 3) c.raise(UD, -1);
      requireCpl0(c);
      c.invlpg((c.segBase[i.seg] + ea(c, i)) | 0);
      c.brk = 1;
      return;
    }
    default:
      c.raise(UD, -1);
  }
}

// ------------------------------------------------------------------------------------------------
// Control and debug registers

function setCr0(c: Cpu, v: number): void {
  v |= 0x10; // ET is hard-wired to 1
  if ((v & CR0_PG) !== 0 && (v & CR0_PE) === 0) c.gp(0);
  if ((v & 0x40000000) === 0 && (v & 0x20000000) !== 0) c.gp(0); // NW without CD
  const changed = c.cr0 ^ v;
  c.cr0 = v;
  if ((changed & (CR0_PG | 0x10000 | CR0_PE)) !== 0) c.flushTlb(true);
  c.updateMode();
  // Segment rights are derived differently in real mode.
  for (let s = 0; s < 6; s++) c.setSegRaw(s, c.segSel[s], c.segBase[s], c.segLimit[s], c.segAr[s]);
  c.brk = 1;
}

export function movToCr(c: Cpu, i: Insn): void {
  requireCpl0(c);
  const v = c.regs[i.rm << 1];
  switch (i.reg) {
    case 0: setCr0(c, v); return;
    case 2: c.cr2 = v; return;
    case 3:
      c.cr3 = v;
      c.flushTlb(false);
      c.brk = 1;
      return;
    case 4: {
      // Only bits of features the CPUID table reports (never VME/PVI, MCE, OSXMMEXCPT).
      if ((v & ~c.cr4Allowed) !== 0) c.gp(0);
      const changed = c.cr4 ^ v;
      c.cr4 = v;
      if ((changed & (CR4_PSE | CR4_PAE | CR4_PGE)) !== 0) c.flushTlb(true);
      if ((changed & 0x8) !== 0) c.updateDebug(); // CR4.DE enables I/O breakpoints
      c.brk = 1;
      return;
    }
    default: c.raise(UD, -1);
  }
}

export function movFromCr(c: Cpu, i: Insn): void {
  requireCpl0(c);
  let v: number;
  switch (i.reg) {
    case 0: v = c.cr0; break;
    case 2: v = c.cr2; break;
    case 3: v = c.cr3; break;
    case 4: v = c.cr4; break;
    default: return c.raise(UD, -1);
  }
  c.regs[i.rm << 1] = v;
}

/** DR7.GD: any MOV to or from a debug register raises #DB (a fault) with DR6.BD. */
function generalDetect(c: Cpu): void {
  if ((c.dr[7] & 0x2000) !== 0) {
    c.dr[6] |= 0x2000;
    c.dr[7] &= ~0x2000;
    c.raise(1, -1);
  }
}

export function movToDr(c: Cpu, i: Insn): void {
  requireCpl0(c);
  generalDetect(c);
  const v = c.regs[i.rm << 1];
  let r = i.reg;
  if (r === 4 || r === 5) {
    if ((c.cr4 & 0x8) !== 0) c.raise(UD, -1);
    r += 2;
  }
  c.dr[r] = r === 6 ? (v | 0xffff0ff0) : r === 7 ? (v | 0x400) : v;
  if (r === 7) c.updateDebug();
}

export function movFromDr(c: Cpu, i: Insn): void {
  requireCpl0(c);
  generalDetect(c);
  let r = i.reg;
  if (r === 4 || r === 5) {
    if ((c.cr4 & 0x8) !== 0) c.raise(UD, -1);
    r += 2;
  }
  c.regs[i.rm << 1] = c.dr[r];
}

// ------------------------------------------------------------------------------------------------
// MSRs, TSC, CPUID

/** #UD for an instruction whose feature the CPU model (CPUID leaf 1 EDX) does not report. */
export function requireFeature(c: Cpu, bit: number): void {
  if ((c.features & bit) === 0) c.raise(UD, -1);
}

export function rdmsr(c: Cpu): void {
  requireFeature(c, CPUID_MSR);
  requireCpl0(c);
  const v = c.readMsr(c.regs[ECX << 1]);
  if (v === undefined) c.gp(0);
  c.regs[EAX << 1] = Number(v & 0xffffffffn) | 0;
  c.regs[EDX << 1] = Number((v >> 32n) & 0xffffffffn) | 0;
}

export function wrmsr(c: Cpu): void {
  requireFeature(c, CPUID_MSR);
  requireCpl0(c);
  const index = c.regs[ECX << 1] >>> 0;
  const v = (BigInt(c.regs[EDX << 1] >>> 0) << 32n) | BigInt(c.regs[EAX << 1] >>> 0);
  if ((index === MSR_PERFEVTSEL0 || index === MSR_PERFEVTSEL1) && (c.regs[EAX << 1] & 0x400000) !== 0 && c.readMsr(index) !== undefined) {
    c.internalError('P6 performance counters that count events (PerfEvtSel EN) are not implemented');
  }
  if (!c.writeMsr(index, v)) c.gp(0);
  c.brk = 1;
}

/** RDPMC: the P6 performance counters 0 and 1 (MSRs 0xC1/0xC2), CR4.PCE opening them to CPL > 0. */
export function rdpmc(c: Cpu): void {
  if ((c.cr4 & 0x100) === 0 && c.cpl !== 0 && (c.pmode || c.vm86)) c.gp(0);
  const n = c.regs[ECX << 1] >>> 0;
  if (n > 1) c.gp(0);
  const v = c.readMsr(0xc1 + n);
  if (v === undefined) return c.raise(UD, -1); // no performance counters on this model (before the P6)
  c.regs[EAX << 1] = Number(v & 0xffffffffn) | 0;
  c.regs[EDX << 1] = Number((v >> 32n) & 0xffn) | 0;
}

export function rdtsc(c: Cpu): void {
  requireFeature(c, CPUID_TSC);
  if ((c.cr4 & CR4_TSD) !== 0 && c.cpl !== 0 && (c.pmode || c.vm86)) c.gp(0);
  if (c.tscBase === 0n) {
    const t = c.retired() + c.tscOffset;
    if (t >= 0) {
      c.regs[EAX << 1] = t % 4294967296 | 0;
      c.regs[EDX << 1] = Math.floor(t / 4294967296) | 0;
      return;
    }
  }
  const t = c.tsc();
  c.regs[EAX << 1] = Number(t & 0xffffffffn) | 0;
  c.regs[EDX << 1] = Number(t >> 32n) | 0;
}

export function cpuid(c: Cpu): void {
  const leaf = c.regs[EAX << 1] >>> 0;
  const sub = c.regs[ECX << 1] >>> 0;
  const table = c.cpuid;
  let max = 0, maxExt = 0;
  for (const e of table) {
    if (e.function === 0) max = e.eax >>> 0;
    if (e.function === 0x80000000) maxExt = e.eax >>> 0;
  }
  let want = leaf;
  if (leaf >= 0x80000000 ? leaf > maxExt : leaf > max) want = max; // Intel: the highest basic leaf
  const entry = table.find((e) => e.function === want && (!e.significantIndex || e.index === sub));
  c.regs[EAX << 1] = entry ? entry.eax : 0;
  c.regs[EBX_ << 1] = entry ? entry.ebx : 0;
  c.regs[ECX << 1] = entry ? entry.ecx : 0;
  c.regs[EDX << 1] = entry ? entry.edx : 0;
}
const EBX_ = 3;

export function sysenter(c: Cpu): void {
  requireFeature(c, CPUID_SEP);
  if ((c.cr0 & CR0_PE) === 0) c.gp(0);
  const cs = c.sysenterCs & 0xfffc;
  if (cs === 0) c.gp(0);
  c.st[I_FLAGS] &= ~(F_VM | F_IF | F_RF);
  c.setSegRaw(CS, cs, 0, 0xffffffff, 0x9b | AR_DB | 0x8000);
  c.setSegRaw(SS, (cs + 8) & 0xfffc, 0, 0xffffffff, 0x93 | AR_DB | 0x8000);
  c.regs[ESP << 1] = c.sysenterEsp;
  c.nextEip = c.sysenterEip;
  c.cpl = 0;
  c.updateMode();
  c.brk = 1;
}

export function sysexit(c: Cpu): void {
  requireFeature(c, CPUID_SEP);
  if ((c.cr0 & CR0_PE) === 0 || c.vm86 || c.cpl !== 0) c.gp(0);
  const cs = c.sysenterCs & 0xfffc;
  if (cs === 0) c.gp(0);
  c.setSegRaw(CS, (cs + 16) | 3, 0, 0xffffffff, 0xfb | AR_DB | 0x8000);
  c.setSegRaw(SS, (cs + 24) | 3, 0, 0xffffffff, 0xf3 | AR_DB | 0x8000);
  c.regs[ESP << 1] = c.regs[ECX << 1];
  c.nextEip = c.regs[EDX << 1];
  c.cpl = 3;
  c.updateMode();
  c.brk = 1;
}

