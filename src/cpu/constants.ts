// Architectural constants shared by the core's files.

// Segment register indices (the encoding order of the sreg field), then LDTR and TR.
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, LDTR = 6, TR = 7;
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'] as const;

// General registers in encoding order.
export const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;

// EFLAGS bits.
export const F_CF = 0x1, F_PF = 0x4, F_AF = 0x10, F_ZF = 0x40, F_SF = 0x80, F_TF = 0x100;
export const F_IF = 0x200, F_DF = 0x400, F_OF = 0x800, F_IOPL = 0x3000, F_NT = 0x4000;
export const F_RF = 0x10000, F_VM = 0x20000, F_AC = 0x40000, F_VIF = 0x80000, F_VIP = 0x100000, F_ID = 0x200000;
/** The six arithmetic status flags. */
export const F_ARITH = F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF;
/** Bit 1 of EFLAGS always reads 1. */
export const F_FIXED = 0x2;

// CR0 / CR4 / EFER bits.
export const CR0_PE = 0x1, CR0_MP = 0x2, CR0_EM = 0x4, CR0_TS = 0x8, CR0_ET = 0x10, CR0_NE = 0x20;
export const CR0_WP = 0x10000, CR0_AM = 0x40000, CR0_NW = 0x20000000, CR0_CD = 0x40000000, CR0_PG = 0x80000000 | 0;
export const CR4_VME = 0x1, CR4_PVI = 0x2, CR4_TSD = 0x4, CR4_DE = 0x8, CR4_PSE = 0x10, CR4_PAE = 0x20;
export const CR4_MCE = 0x40, CR4_PGE = 0x80, CR4_PCE = 0x100, CR4_OSFXSR = 0x200, CR4_OSXMMEXCPT = 0x400;
export const EFER_SCE = 0x1, EFER_LME = 0x100, EFER_LMA = 0x400, EFER_NXE = 0x800;

// Exception vectors.
export const DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8;
export const TS = 10, NP = 11, SSF = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19;

// Segment access rights, as packed in our caches (VMX layout): bits 0-3 type, 4 S, 5-6 DPL, 7 P,
// 12 AVL, 13 L, 14 D/B, 15 G, 16 unusable.
export const AR_S = 0x10, AR_P = 0x80, AR_AVL = 0x1000, AR_L = 0x2000, AR_DB = 0x4000, AR_G = 0x8000;
export const AR_UNUSABLE = 0x10000;

// MSRs.
export const MSR_TSC = 0x10, MSR_APIC_BASE = 0x1b, MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175;
export const MSR_SYSENTER_EIP = 0x176, MSR_PAT = 0x277, MSR_EFER = 0xc0000080 | 0;
