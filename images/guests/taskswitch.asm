; taskswitch: hardware task switches. A multiboot guest (see mb-common.inc), all at CPL 0,
; paging off.
;
; GDT: the flat selectors of mb-common, four 32-bit TSSs (A 0x28, B 0x30, C 0x38, DF 0x40), a task
; gate to C (0x48) and a second flat data selector (0x50) that only task B's TSS names (for GS).
; Task A is the initial task (LTR 0x28). Steps:
;   - "jmp to TSS": with EBX = 0x12345678, JMP 0x30:0 switches to task B. B checks TR = 0x30,
;     its registers from TSS B (EAX, ESP, GS = 0x50, EFLAGS.NT = 0), that A's state was saved
;     in TSS A (EIP after the JMP, EBX, ESP), A's descriptor is available again (type 9) and B's
;     busy (type 11), B's back link untouched, CR0.TS set. B sets ECX and JMPs back to 0x28: A
;     resumes after its JMP with its registers, TR = 0x28, TSS B holds B's EIP and ECX;
;   - "jmp to busy TSS": JMP 0x28:0 (A itself, busy) gives #GP(0x28);
;   - "call through task gate": CALL 0x48:0 (task gate → C) twice. C checks TR = 0x38,
;     EFLAGS.NT = 1, back link = 0x28, A still busy, and IRETs back to A; the second call resumes
;     C after that IRET (C counts its runs). After each return A checks TR, that C is available
;     again, NT clear in A and in C's saved EFLAGS (IRET clears it), C's saved EIP;
;   - "double fault task": IDT vector 8 becomes a task gate to DF, vector 13 is marked not
;     present. MOV DS, 0x1230 (beyond the GDT limit) raises #GP(0x1230); delivering it finds the
;     #GP gate not present, #NP(13*8+2): #GP then #NP = double fault, which switches to task DF.
;     DF checks TR = 0x40, the error code 0 on its stack (ESP = its initial ESP - 4), NT = 1, back
;     link = 0x28, then prints "taskswitch: ok\r\n" and exits 0.
; Failure: "taskswitch: FAIL <step>: <what>\r\n", status 1.

%define GUEST_NAME "taskswitch"
%include "mb-common.inc"

TSS_A           equ 0x28
TSS_B           equ 0x30
TSS_C           equ 0x38
TSS_DF          equ 0x40
GATE_C          equ 0x48
DATA2           equ 0x50
CR0_TS          equ 0x8

; TSS field offsets.
T_LINK  equ 0x00
T_ESP0  equ 0x04
T_SS0   equ 0x08
T_CR3   equ 0x1c
T_EIP   equ 0x20
T_EFL   equ 0x24
T_EAX   equ 0x28
T_ECX   equ 0x2c
T_EDX   equ 0x30
T_EBX   equ 0x34
T_ESP   equ 0x38
T_ES    equ 0x48
T_CS    equ 0x4c
T_SS    equ 0x50
T_DS    equ 0x54
T_FS    equ 0x58
T_GS    equ 0x5c

; A 104-byte 32-bit TSS: TSS32 eip, esp, eax, gs, link
%macro TSS32 5
        dd      %5                      ; back link
        dd      0, KDATA, 0, 0, 0, 0    ; ESP0 SS0 ESP1 SS1 ESP2 SS2
        dd      0                       ; CR3
        dd      %1                      ; EIP
        dd      2                       ; EFLAGS
        dd      %3, 0, 0, 0             ; EAX ECX EDX EBX
        dd      %2, 0, 0, 0             ; ESP EBP ESI EDI
        dd      KDATA, KCODE, KDATA, KDATA, KDATA, %4   ; ES CS SS DS FS GS
        dd      0                       ; LDT
        dw      0, 104                  ; T bit, I/O map base (none: beyond the limit)
%endmacro

; Type field of a TSS descriptor in the GDT: 9 available, 11 (0xB) busy.
%macro CHECK_TSS_TYPE 3
        CHECK_MASK [gdt + (%1) + 4], 0x0f00, (%2) << 8, %3
%endmacro

main:
        STEP    "ltr"
        mov     ax, TSS_A
        ltr     ax
        xor     eax, eax
        str     ax
        CHECK_EQ eax, TSS_A, "STR"
        CHECK_TSS_TYPE TSS_A, 0xb, "A busy after LTR"

        STEP    "jmp to TSS"
        mov     eax, cr0
        and     eax, ~CR0_TS
        mov     cr0, eax
        mov     [a_esp], esp
        mov     ebx, 0x12345678
        mov     ecx, 0x11111111
        jmp     TSS_B:0
a_after_jmp:
        STEP    "back in A after the jmp"
        CHECK_EQ esp, [a_esp], "A's ESP after return"
        CHECK_EQ ebx, 0x12345678, "A's EBX after return"
        CHECK_EQ ecx, 0x11111111, "A's ECX after return"
        xor     eax, eax
        str     ax
        CHECK_EQ eax, TSS_A, "STR back in A"
        CHECK_EQ [tss_b + T_EIP], b_after_jmp, "B's EIP saved in TSS B"
        CHECK_EQ [tss_b + T_ECX], 0xb0b0cccc, "B's ECX saved in TSS B"
        CHECK_TSS_TYPE TSS_A, 0xb, "A busy"
        CHECK_TSS_TYPE TSS_B, 0x9, "B available"
        CHECK_EQ [b_ran], 1, "task B ran"
        mov     eax, cr0
        CHECK_MASK eax, CR0_TS, CR0_TS, "CR0.TS after the switch back"
        clts

        STEP    "jmp to busy TSS"
        FAULT   V_GP, TSS_A, {jmp TSS_A:0}

        STEP    "call through task gate"
        mov     dword [tss_c + T_EBX], 0xc0c0  ; C's saved EBX survives between calls
        mov     [a_esp], esp
        mov     ebx, 0x2222
        call    GATE_C:0
a_after_call1:
        STEP    "back in A after the first call"
        CHECK_EQ esp, [a_esp], "A's ESP after the first call"
        CHECK_EQ ebx, 0x2222, "A's EBX after the first call"
        CHECK_EQ [c_runs], 1, "C's runs"
        xor     eax, eax
        str     ax
        CHECK_EQ eax, TSS_A, "STR back in A"
        CHECK_TSS_TYPE TSS_C, 0x9, "C available after its IRET"
        CHECK_TSS_TYPE TSS_A, 0xb, "A busy"
        pushfd
        pop     eax
        CHECK_MASK eax, FL_NT, 0, "NT in A"
        CHECK_EQ [tss_c + T_EIP], c_after_iret1, "C's EIP saved in TSS C"
        CHECK_MASK [tss_c + T_EFL], FL_NT, 0, "NT in C's saved EFLAGS (IRET clears it)"
        clts
        call    GATE_C:0
        STEP    "back in A after the second call"
        CHECK_EQ [c_runs], 2, "C's runs after the second call"
        CHECK_EQ [tss_c + T_EIP], c_after_iret2, "C's EIP after its second IRET"
        CHECK_EQ ebx, 0x2222, "A's EBX after the second call"
        clts

        STEP    "double fault task"
        mov     dword [idt + V_DF * 8], TSS_DF << 16
        mov     dword [idt + V_DF * 8 + 4], 0x8500      ; task gate, present, DPL 0
        and     byte [idt + V_GP * 8 + 5], 0x7f         ; #GP gate not present
        mov     ax, 0x1230
        mov     ds, ax                  ; #GP(0x1230) -> #NP(0x6a) -> #DF
        FAIL    "no double fault"

; ------------------------------------------------------------------------------------------------
task_b:
        STEP    "task B"
        str     dx
        and     edx, 0xffff
        CHECK_EQ edx, TSS_B, "STR in B"
        CHECK_EQ eax, 0xb0b0b0b0, "EAX from TSS B"
        CHECK_EQ esp, b_stack_top, "ESP from TSS B"
        CHECK_SEG gs, DATA2, "GS from TSS B"
        pushfd
        pop     eax
        CHECK_MASK eax, FL_NT, 0, "NT after JMP"
        CHECK_EQ [tss_a + T_EIP], a_after_jmp, "A's EIP in TSS A"
        CHECK_EQ [tss_a + T_EBX], 0x12345678, "A's EBX in TSS A"
        CHECK_EQ [tss_a + T_ESP], [a_esp], "A's ESP in TSS A"
        CHECK_EQ [tss_a + T_CS], KCODE, "A's CS in TSS A"
        CHECK_TSS_TYPE TSS_A, 0x9, "A available after JMP away"
        CHECK_TSS_TYPE TSS_B, 0xb, "B busy"
        CHECK_EQ [tss_b + T_LINK], 0x1234, "B's back link (JMP does not write it)"
        mov     eax, cr0
        CHECK_MASK eax, CR0_TS, CR0_TS, "CR0.TS"
        clts
        inc     dword [b_ran]
        mov     ecx, 0xb0b0cccc
        jmp     TSS_A:0
b_after_jmp:
        FAIL    "task B resumed"

task_c:
        STEP    "task C (first call)"
        call    c_checks
        inc     dword [c_runs]
        iretd
c_after_iret1:
        STEP    "task C (second call)"
        call    c_checks
        inc     dword [c_runs]
        iretd
c_after_iret2:
        FAIL    "task C ran a third time"

c_checks:
        str     ax
        and     eax, 0xffff
        CHECK_EQ eax, TSS_C, "STR in C"
        pushfd
        pop     eax
        CHECK_MASK eax, FL_NT, FL_NT, "NT in C (CALL sets it)"
        CHECK_MASK [tss_c + T_LINK], 0xffff, TSS_A, "C's back link"
        CHECK_TSS_TYPE TSS_A, 0xb, "A still busy"
        CHECK_TSS_TYPE TSS_C, 0xb, "C busy"
        CHECK_EQ ebx, 0xc0c0, "EBX from TSS C"
        ret

task_df:
        STEP    "double fault task"
        CHECK_EQ esp, df_stack_top - 4, "ESP in the #DF task (error code pushed)"
        CHECK_EQ [esp], 0, "#DF error code"
        str     ax
        and     eax, 0xffff
        CHECK_EQ eax, TSS_DF, "STR in the #DF task"
        pushfd
        pop     eax
        CHECK_MASK eax, FL_NT, FL_NT, "NT in the #DF task"
        CHECK_MASK [tss_df + T_LINK], 0xffff, TSS_A, "#DF task's back link"
        CHECK_TSS_TYPE TSS_A, 0xb, "A busy (nested)"
        CHECK_TSS_TYPE TSS_DF, 0xb, "DF busy"
        jmp     pass

; ------------------------------------------------------------------------------------------------
        align   16
tss_a:  TSS32   0, 0, 0, KDATA, 0
        align   16
tss_b:  TSS32   task_b, b_stack_top, 0xb0b0b0b0, DATA2, 0x1234
        align   16
tss_c:  TSS32   task_c, c_stack_top, 0, KDATA, 0
        align   16
tss_df: TSS32   task_df, df_stack_top, 0, KDATA, 0

        GDT_BEGIN
        GDT_FLAT
        DESC    ABS(tss_a), 103, 0x89, 0x0      ; 0x28
        DESC    ABS(tss_b), 103, 0x89, 0x0      ; 0x30
        DESC    ABS(tss_c), 103, 0x89, 0x0      ; 0x38
        DESC    ABS(tss_df), 103, 0x89, 0x0     ; 0x40
        dw      0, TSS_C, 0x8500, 0             ; 0x48: task gate to C
        DESC    0, 0xfffff, 0x92, 0xc           ; 0x50: flat data (B's GS)
        GDT_END

        section .bss
a_esp:          resd    1
b_ran:          resd    1
c_runs:         resd    1
                resb    2048
b_stack_top:
                resb    2048
c_stack_top:
                resb    2048
df_stack_top:

        MB_END
