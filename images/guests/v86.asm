; v86: virtual-8086 mode under a small ring-0 monitor. A multiboot guest (see mb-common.inc),
; paging off.
;
; The monitor (CPL 0, 32-bit) has a TSS (SS0:ESP0 = the monitor stack) whose I/O permission
; bitmap allows only ports 0x3F8-0x3FF (COM1) and 0xF4 (exit). It copies the v86 code (assembled
; below with `bits 16`, position-independent) to linear 0x2000, points real-mode vector 0x21 of
; the IVT at 0 at a v86 handler, and enters v86 with IRETD: EFLAGS.VM = 1, IOPL = 3,
; CS = DS = ES = SS = 0x0200, FS = 0x0300, GS = 0x0400, SP = 0x3FF0.
;
; v86 code, steps:
;   - "segments": the segment registers and SP from the IRET frame; real-mode addressing: a word
;     written through 0300:0010 reads back through 0301:0000 (both linear 0x3010);
;   - "IOPL 3 flags": CLI/STI/PUSHF/POPF run directly: PUSHF shows IF as set by CLI/STI and
;     IOPL = 3; POPF cannot lower IOPL; PUSHFD does not show VM;
;   - "int 0x80 at IOPL 3": INT n goes through the IDT (a DPL-3 interrupt gate) to ring 0; the
;     handler checks it runs at CPL 0 on the TSS stack with DS/ES/FS/GS zeroed, and finds the full
;     v86 frame (EIP after the INT, CS, EFLAGS with VM and IOPL 3, ESP, SS, ES, DS, FS, GS); it
;     returns AX = 0x600D with IRETD;
;   - "I/O bitmap": IN from 0x3FD runs; IN from port 0x80, a 16-bit IN from 0x3FF (covers 0x400)
;     and OUT to 0x80 give #GP(0) although IOPL = 3 (in v86 only the bitmap counts); the monitor
;     counts each in BP, skips the instruction and returns 0xFF/0xFFFF for an IN;
;   - "IOPL 0": INT 0x80 function 2 makes the monitor clear IOPL in the frame; now CLI and STI
;     give #GP (the monitor keeps a virtual IF);
;   - "int 0x21 at IOPL 0": INT 0x21 gives #GP(0); the monitor checks the v86 frame (error code
;     0, EIP of the INT, CS, EFLAGS with VM and IOPL 0, ESP, SS, ES, DS, FS, GS) and reflects the
;     interrupt the real-mode way: FLAGS, CS, IP pushed on the v86 stack, CS:IP from the IVT. The
;     v86 handler checks its stack and returns with IRET, which also gives #GP and is emulated;
;   - "print": the v86 code prints "v86: ok\r\n" on COM1 with OUT (bitmap) and writes 0 to 0xF4.
; Failure: "v86: FAIL <step>: <what>\r\n", status 1. A failure found in v86 is reported with UD2
; (SI = message offset in DS), which the monitor's #UD handler prints.

%define GUEST_NAME "v86"
%include "mb-common.inc"

TSS_SEL         equ 0x28
V86_LIN         equ 0x2000              ; where the v86 code runs
V86_SEG         equ V86_LIN >> 4
V86_FS          equ 0x0300
V86_GS          equ 0x0400
V86_SP          equ 0x3ff0
V86_ALIAS_SEG   equ 0x0300              ; 0300:0010 = 0301:0000 = linear 0x3010
%define V(x) ((x) - v86_start)          ; offset of a v86 label in V86_SEG

; Monitor stack frame for an interrupt from v86 without error code (after PUSHAD: + 32).
F_EIP   equ 0
F_CS    equ 4
F_EFL   equ 8
F_ESP   equ 12
F_SS    equ 16
F_ES    equ 20
F_DS    equ 24
F_FS    equ 28
F_GS    equ 32
; PUSHAD layout
P_EDI   equ 0
P_ESI   equ 4
P_EBP   equ 8
P_EBX   equ 16
P_EDX   equ 20
P_ECX   equ 24
P_EAX   equ 28

main:
        STEP    "setup"
        mov     dword [tss + 4], mon_stack_top
        mov     dword [tss + 8], KDATA
        mov     ax, TSS_SEL
        ltr     ax
        ; The v86 code to 0x2000, the IVT entry for INT 0x21.
        mov     esi, v86_start
        mov     edi, V86_LIN
        mov     ecx, v86_end - v86_start
        rep     movsb
        mov     word [0x21 * 4], V(v86_int21)
        mov     word [0x21 * 4 + 2], V86_SEG
        mov     word [V86_ALIAS_SEG * 16 + 0x10], 0     ; the aliasing test word
        SET_GATE 0x80, mon_int80, KCODE, 0xee
        SET_GATE V_GP, mon_gp, KCODE, 0x8e
        SET_GATE V_UD, mon_ud, KCODE, 0x8e
        ; Enter v86.
        push    dword V86_GS
        push    dword V86_FS
        push    dword V86_SEG           ; DS
        push    dword V86_SEG           ; ES
        push    dword V86_SEG           ; SS
        push    dword V86_SP
        push    dword FL_VM | FL_IOPL | 2
        push    dword V86_SEG           ; CS
        push    dword V(v86_entry)
        iretd

; ------------------------------------------------------------------------------------------------
; INT 0x80 from v86 (IOPL 3). AX = function: 1 check the frame, 2 set IOPL 0.
mon_int80:
        cmp     esp, mon_stack_top - 36
        je      .stack_ok
        mov     [tmp], esp
        CHECK_EQ [tmp], mon_stack_top - 36, "ESP at handler entry (not the TSS stack)"
.stack_ok:
        push    eax
        push    ebx
        mov     ax, ds
        mov     bx, es
        or      ax, bx
        mov     bx, fs
        or      ax, bx
        mov     bx, gs
        or      ax, bx
        pop     ebx
        pop     eax
        jz      .segs_ok
        FAIL    "DS/ES/FS/GS not zero in the handler"
.segs_ok:
        pushad
        mov     ax, KDATA
        mov     ds, ax
        mov     es, ax
        call    v86_step_name
        CHECK_SEG cs, KCODE, "handler CS"
        CHECK_SEG ss, KDATA, "handler SS (TSS SS0)"
        mov     eax, [esp + P_EAX]
        cmp     ax, 1
        je      .check
        cmp     ax, 2
        jne     .bad
        and     dword [esp + 32 + F_EFL], ~FL_IOPL
        jmp     .done
.bad:
        FAIL    "bad INT 0x80 function"
.check:
        CHECK_EQ [esp + 32 + F_EIP], V(v86_int80_next), "frame EIP"
        CHECK_MASK [esp + 32 + F_CS], 0xffff, V86_SEG, "frame CS"
        CHECK_MASK [esp + 32 + F_EFL], ~(FL_ARITH | FL_DF), FL_VM | FL_IOPL | 2, "frame EFLAGS"
        movzx   ebx, word [V86_LIN + V(v86_saved_sp)]
        CHECK_MASK [esp + 32 + F_ESP], 0xffff, ebx, "frame ESP"
        CHECK_MASK [esp + 32 + F_SS], 0xffff, V86_SEG, "frame SS"
        CHECK_MASK [esp + 32 + F_ES], 0xffff, V86_SEG, "frame ES"
        CHECK_MASK [esp + 32 + F_DS], 0xffff, V86_SEG, "frame DS"
        CHECK_MASK [esp + 32 + F_FS], 0xffff, V86_FS, "frame FS"
        CHECK_MASK [esp + 32 + F_GS], 0xffff, V86_GS, "frame GS"
        pushfd
        pop     eax
        CHECK_MASK eax, FL_VM | FL_IF, 0, "VM or IF in the handler"
        mov     word [esp + P_EAX], 0x600d
.done:
        popad
        iretd

; #GP: from v86, emulate or count; otherwise an unexpected exception (the shared handler).
mon_gp:
        test    dword [esp + 4 + F_EFL], FL_VM
        jnz     .v86
        push    dword V_GP
        jmp     exc_common
.v86:
        pushad
        mov     ax, KDATA
        mov     ds, ax
        mov     es, ax
        call    v86_step_name
%define G(f) esp + 36 + f               ; frame field after PUSHAD and the error code
        CHECK_EQ [esp + 32], 0, "#GP error code from v86"
        ; EBX = linear address of CS:IP, ECX = byte there
        movzx   ebx, word [G(F_CS)]
        shl     ebx, 4
        movzx   eax, word [G(F_EIP)]
        add     ebx, eax
        movzx   ecx, byte [ebx]
        inc     word [esp + P_EBP]
        cmp     cl, 0xcd
        je      .int
        cmp     cl, 0xcf
        je      .iret
        cmp     cl, 0xfa
        je      .cli
        cmp     cl, 0xfb
        je      .sti
        cmp     cl, 0xe4
        je      .in_al_imm
        cmp     cl, 0xe5
        je      .in_ax_imm
        cmp     cl, 0xe6
        je      .out_imm
        cmp     cl, 0xe7
        je      .out_imm
        cmp     cl, 0xec
        je      .in_al_dx
        cmp     cl, 0xed
        je      .in_ax_dx
        cmp     cl, 0xee
        je      .out_dx
        cmp     cl, 0xef
        je      .out_dx
        mov     [tmp], ecx
        CHECK_EQ [tmp], -1, "#GP from v86 at an instruction the monitor does not emulate"
.cli:
        mov     byte [vif], 0
        jmp     .skip1
.sti:
        mov     byte [vif], 1
        jmp     .skip1
.in_al_imm:
        mov     byte [esp + P_EAX], 0xff
        jmp     .skip2
.in_ax_imm:
        mov     word [esp + P_EAX], 0xffff
        jmp     .skip2
.out_imm:
        jmp     .skip2
.in_al_dx:
        mov     byte [esp + P_EAX], 0xff
        jmp     .skip1
.in_ax_dx:
        mov     word [esp + P_EAX], 0xffff
.out_dx:
.skip1:
        inc     word [G(F_EIP)]
        jmp     .done
.skip2:
        add     word [G(F_EIP)], 2
.done:
        popad
        add     esp, 4
        iretd

        ; INT n: reflect through the real-mode IVT.
.int:
        cmp     byte [int21_checked], 0
        jne     .reflect
        mov     byte [int21_checked], 1
        CHECK_EQ [G(F_EIP)], V(v86_int21_site), "#GP frame EIP (the INT)"
        CHECK_MASK [G(F_CS)], 0xffff, V86_SEG, "#GP frame CS"
        CHECK_MASK [G(F_EFL)], ~(FL_ARITH | FL_DF | FL_RF), FL_VM | 2, "#GP frame EFLAGS (RF may be set: a fault)"
        movzx   ecx, word [V86_LIN + V(v86_saved_sp)]
        CHECK_MASK [G(F_ESP)], 0xffff, ecx, "#GP frame ESP"
        CHECK_MASK [G(F_SS)], 0xffff, V86_SEG, "#GP frame SS"
        CHECK_MASK [G(F_ES)], 0xffff, V86_SEG, "#GP frame ES"
        CHECK_MASK [G(F_DS)], 0xffff, V86_SEG, "#GP frame DS"
        CHECK_MASK [G(F_FS)], 0xffff, V86_FS, "#GP frame FS"
        CHECK_MASK [G(F_GS)], 0xffff, V86_GS, "#GP frame GS"
.reflect:
        movzx   edx, byte [ebx + 1]     ; vector
        ; push FLAGS, CS, IP+2 on the v86 stack
        movzx   edi, word [G(F_SS)]
        shl     edi, 4
        movzx   eax, word [G(F_ESP)]
        sub     ax, 6
        mov     [G(F_ESP)], ax
        add     edi, eax
        mov     ax, [G(F_EIP)]
        add     ax, 2
        mov     [edi], ax
        mov     ax, [G(F_CS)]
        mov     [edi + 2], ax
        mov     ax, [G(F_EFL)]
        and     ax, ~FL_IF
        cmp     byte [vif], 0
        je      .vif0
        or      ax, FL_IF
.vif0:
        mov     [edi + 4], ax
        ; CS:IP from the IVT, IF (virtual) and TF cleared
        mov     ax, [edx * 4]
        mov     [G(F_EIP)], ax
        mov     ax, [edx * 4 + 2]
        mov     [G(F_CS)], ax
        mov     byte [vif], 0
        and     dword [G(F_EFL)], ~0x100
        jmp     .done

        ; IRET: pop IP, CS, FLAGS from the v86 stack; IOPL and VM stay the monitor's.
.iret:
        movzx   edi, word [G(F_SS)]
        shl     edi, 4
        movzx   eax, word [G(F_ESP)]
        add     edi, eax
        add     ax, 6
        mov     [G(F_ESP)], ax
        mov     ax, [edi]
        mov     [G(F_EIP)], ax
        mov     ax, [edi + 2]
        mov     [G(F_CS)], ax
        movzx   eax, word [edi + 4]
        mov     byte [vif], 0
        test    eax, FL_IF
        jz      .iret_vif0
        mov     byte [vif], 1
.iret_vif0:
        and     eax, FL_ARITH | FL_DF | 0x100
        and     dword [G(F_EFL)], ~(FL_ARITH | FL_DF | 0x100)
        or      [G(F_EFL)], eax
        jmp     .done
%undef G

; #UD from v86: a failure found by the v86 code, message at DS:SI.
mon_ud:
        test    dword [esp + F_EFL], FL_VM
        jnz     .v86
        push    byte 0
        push    dword V_UD
        jmp     exc_common
.v86:
        mov     ax, KDATA
        mov     ds, ax
        mov     es, ax
        call    v86_step_name
        movzx   eax, word [esp + F_DS]
        shl     eax, 4
        movzx   esi, si
        add     esi, eax
        jmp     fail

; Name the current step after the v86 code's (V86_STEP): cur_step = its name in low memory.
v86_step_name:
        push    eax
        movzx   eax, word [V86_LIN + V(v86_step)]
        test    eax, eax
        jz      .none
        add     eax, V86_LIN
        mov     [cur_step], eax
.none:
        pop     eax
        ret

; ------------------------------------------------------------------------------------------------
; The v86 code, copied to V86_LIN and run at V86_SEG:V(label).
        bits    16

; V86_FAIL "what": report from v86 (message in the v86 data segment, DS = V86_SEG).
%macro V86_FAIL 1
        mov     si, V(%%msg)
        ud2
%%msg:  db      %1, 0
%endmacro

; V86_CHECK a, b, "what": 16-bit compare; a may be memory or a register, b an immediate.
%macro V86_CHECK 3
        cmp     %1, %2
        je      %%ok
        V86_FAIL %3
%%ok:
%endmacro

; V86_STEP "name": the step name, for failure lines.
%macro V86_STEP 1
        jmp     %%go
%%name: db      %1, 0
%%go:
        mov     word [V(v86_step)], V(%%name)
%endmacro

        align   16
v86_start:
v86_entry:
        V86_STEP "segments"
        mov     ax, cs
        V86_CHECK ax, V86_SEG, "v86 CS"
        mov     ax, ds
        V86_CHECK ax, V86_SEG, "v86 DS"
        mov     ax, es
        V86_CHECK ax, V86_SEG, "v86 ES"
        mov     ax, ss
        V86_CHECK ax, V86_SEG, "v86 SS"
        mov     ax, fs
        V86_CHECK ax, V86_FS, "v86 FS"
        mov     ax, gs
        V86_CHECK ax, V86_GS, "v86 GS"
        V86_CHECK sp, V86_SP, "v86 SP"
        mov     ax, V86_ALIAS_SEG
        mov     es, ax
        mov     word [es:0x0010], 0x5a3c
        inc     ax
        mov     es, ax
        V86_CHECK word [es:0x0000], 0x5a3c, "0300:0010 and 0301:0000 differ"
        mov     ax, ds
        mov     es, ax

        V86_STEP "IOPL 3 flags"
        cli
        pushf
        pop     ax
        test    ax, FL_IF
        jz      .if_clear
        V86_FAIL "IF set after CLI"
.if_clear:
        and     ax, FL_IOPL
        V86_CHECK ax, FL_IOPL, "PUSHF: IOPL not 3"
        sti
        pushf
        pop     ax
        test    ax, FL_IF
        jnz     .if_set
        V86_FAIL "IF clear after STI"
.if_set:
        and     ax, ~FL_IOPL
        push    ax
        popf                            ; tries to lower IOPL
        pushf
        pop     ax
        and     ax, FL_IOPL
        V86_CHECK ax, FL_IOPL, "POPF changed IOPL"
        pushfd
        pop     eax
        test    eax, FL_VM
        jz      .no_vm
        V86_FAIL "PUSHFD shows VM"
.no_vm:
        cli

        V86_STEP "int 0x80 at IOPL 3"
        mov     [V(v86_saved_sp)], sp
        mov     ax, 1
        int     0x80
v86_int80_next:
        V86_CHECK ax, 0x600d, "AX from the INT 0x80 handler"
        V86_CHECK sp, [V(v86_saved_sp)], "SP after IRETD"
        mov     ax, ds
        V86_CHECK ax, V86_SEG, "DS after IRETD"
        mov     ax, fs
        V86_CHECK ax, V86_FS, "FS after IRETD"
        mov     ax, gs
        V86_CHECK ax, V86_GS, "GS after IRETD"

        V86_STEP "I/O bitmap"
        xor     bp, bp
        mov     dx, COM1 + UART_LSR
        in      al, dx
        V86_CHECK bp, 0, "IN from 0x3FD faulted"
        mov     al, 0
        in      al, 0x80
        V86_CHECK bp, 1, "IN from port 0x80 did not fault"
        V86_CHECK al, 0xff, "monitor's IN value"
        mov     dx, COM1 + 7
        in      ax, dx
        V86_CHECK bp, 2, "16-bit IN from 0x3FF did not fault"
        out     0x80, al
        V86_CHECK bp, 3, "OUT to port 0x80 did not fault"

        V86_STEP "IOPL 0"
        mov     ax, 2
        int     0x80
        xor     bp, bp
        cli
        V86_CHECK bp, 1, "CLI at IOPL 0 did not fault"
        sti
        V86_CHECK bp, 2, "STI at IOPL 0 did not fault"

        V86_STEP "int 0x21 at IOPL 0"
        xor     bp, bp
        mov     ax, 0x1111
        mov     [V(v86_saved_sp)], sp
v86_int21_site:
        int     0x21
v86_int21_next:
        V86_CHECK ax, 0x2222, "AX from the v86 INT 0x21 handler"
        V86_CHECK bp, 2, "#GP count (INT and IRET)"
        V86_CHECK sp, [V(v86_saved_sp)], "SP after the emulated IRET"

        V86_STEP "print"
        mov     si, V(v86_ok)
.putc:
        lodsb
        test    al, al
        jz      .done
        mov     ah, al
        mov     dx, COM1 + UART_LSR
.wait:
        in      al, dx
        test    al, UART_LSR_THRE
        jz      .wait
        mov     al, ah
        mov     dx, COM1 + UART_THR
        out     dx, al
        jmp     .putc
.done:
        V86_CHECK bp, 2, "UART access faulted"
        mov     al, 0
        out     EXIT_PORT, al
        jmp     $

; The real-mode handler for INT 0x21, reached through the IVT by the monitor.
v86_int21:
        V86_CHECK ax, 0x1111, "AX in the INT 0x21 handler"
        mov     bx, sp
        V86_CHECK word [ss:bx], V(v86_int21_next), "return IP on the v86 stack"
        V86_CHECK word [ss:bx + 2], V86_SEG, "return CS on the v86 stack"
        mov     ax, 0x2222
        iret

v86_ok:         db GUEST_NAME, ": ok", 13, 10, 0
v86_saved_sp:   dw 0
v86_step:       dw 0
v86_end:
        bits    32

; ------------------------------------------------------------------------------------------------
        align   16
tss:
        times   0x66 db 0
        dw      iomap - tss
iomap:
        times   EXIT_PORT >> 3 db 0xff
        db      ~(1 << (EXIT_PORT & 7)) & 0xff
        times   (COM1 >> 3) - (EXIT_PORT >> 3) - 1 db 0xff
        db      0                       ; 0x3F8-0x3FF
        times   8192 - (COM1 >> 3) - 1 db 0xff
        db      0xff
tss_end:

        GDT_BEGIN
        GDT_FLAT
        DESC    ABS(tss), tss_end - tss - 1, 0x89, 0x0     ; 0x28
        GDT_END

        section .bss
tmp:            resd    1
vif:            resb    1
int21_checked:  resb    1
        BSS_ALIGN 4
                resb    2048
mon_stack_top:

        MB_END
