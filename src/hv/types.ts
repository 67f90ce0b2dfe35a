// Plain data types of the hardware-assisted API, after KVM's kvm_regs / kvm_sregs / kvm_segment.

export interface Regs {
  eax: number; ebx: number; ecx: number; edx: number;
  esi: number; edi: number; esp: number; ebp: number;
  eip: number; eflags: number;
}

/** A segment register with its hidden descriptor cache (KVM's kvm_segment). */
export interface Segment {
  selector: number;
  base: number;
  /** Byte-granular limit (already scaled when G=1). */
  limit: number;
  /** Descriptor type field (4 bits). */
  type: number;
  present: boolean;
  dpl: number;
  /** D/B bit: 32-bit default operand size / stack size. */
  db: boolean;
  /** S bit: code/data (true) or system (false). */
  s: boolean;
  /** G bit. */
  g: boolean;
  avl: boolean;
  /** Unusable (a null selector loaded in protected mode). */
  unusable: boolean;
}

export interface DescriptorTable {
  base: number;
  limit: number;
}

export interface Sregs {
  cs: Segment; ds: Segment; es: Segment; fs: Segment; gs: Segment; ss: Segment;
  tr: Segment; ldt: Segment;
  gdt: DescriptorTable; idt: DescriptorTable;
  cr0: number; cr2: number; cr3: number; cr4: number;
  efer: number;
  apicBase: number;
}

export interface CpuidEntry {
  function: number;
  index: number;
  /** When true, `index` (ECX on input) selects among sub-leaves. */
  significantIndex: boolean;
  eax: number; ebx: number; ecx: number; edx: number;
}

export interface MsrEntry {
  index: number;
  /** 64-bit value as a bigint. */
  value: bigint;
}

export interface MemoryRegion {
  slot: number;
  /** Guest-physical start, page aligned. */
  guestPhys: number;
  /** Bytes, a multiple of 4096. */
  size: number;
  /** Offset of the region in the VM's host ArrayBuffer. */
  hostOffset: number;
  readonly: boolean;
}

/**
 * The x87 state as plain data, shaped like KVM's `struct kvm_fpu` (what a Vcpu.getFpu/setFpu
 * would carry): registers in stack order ST(0)..ST(7) as 10 bytes each, the abridged tag byte of
 * FXSAVE (bit p set: physical register p is not empty), and the last instruction/operand pointers.
 */
export interface FpuState {
  fpr: number[][];
  fcw: number;
  fsw: number;
  ftwx: number;
  lastOpcode: number;
  lastIp: number;
  lastCs: number;
  lastDp: number;
  lastDs: number;
  mxcsr: number;
}
