; ring3: privilege levels. A multiboot guest (see mb-common.inc) that runs user code at CPL 3.
;
; Ring 0 builds: the flat GDT of mb-common plus a 32-bit TSS (ESP0/SS0 = a kernel stack, an I/O
; permission bitmap that denies every port), loads it with LTR; sets the SYSENTER MSRs
; (0x174 CS = KCODE, 0x175 ESP, 0x176 EIP) with WRMSR; identity-maps 0-4 MiB with 4 KiB pages, all
; user-accessible except one supervisor page; sets CR0.WP and CR0.AM; installs INT 0x80 (interrupt
; gate, DPL 3) and INT 0x81 (interrupt gate, DPL 0). It then enters ring 3 with IRETD, with
; DS = ES = GS = UDATA|3 but FS = KDATA (DPL 0), IF = 1 (the PICs mask every line), IOPL = 0.
;
; Ring 3 checks, in order (each is a STEP named in a failure line):
;   - CPL 3: CS, SS, ESP from the IRET frame; FS was nulled by the return to an outer level;
;   - INT 0x80 through the DPL-3 gate: the handler runs at CPL 0 on the TSS stack (ESP0/SS0),
;     with IF cleared by the interrupt gate, and finds the ring-3 SS, ESP, EFLAGS, CS, EIP in its
;     frame; its IRETD returns to ring 3 with the user ESP and a result in EAX;
;   - INT 0x81 (gate DPL 0 < CPL 3) gives #GP(0x81*8+2);
;   - SYSENTER: enters KCODE/KDATA at MSR ESP/EIP with IF clear; SYSEXIT returns to UCODE|3 /
;     UDATA|3 at EDX with ESP = ECX;
;   - CLI, HLT, MOV EAX,CR0, IN and OUT (IOPL 0, the bitmap denies) give #GP(0);
;   - "#AC": with CR0.AM = 1 and EFLAGS.AC = 1, a misaligned dword load gives #AC(0), an aligned
;     one does not (with AC = 0 nothing is checked). QEMU's TCG has no alignment checking: the
;     guest assembled with -DTCG leaves this step out (see README.md);
;   - reading and writing the supervisor page give #PF with error code 0x5 and 0x7, CR2 = address;
;   - INT 0x80 function 2: the kernel clears the bitmap bits for ports 0x3F8-0x3FF; then IN from
;     0x3F7 and a 16-bit IN from 0x3FF (which also covers 0x400) still give #GP(0), and an IN from
;     0x3FD works;
;   - finally ring 3 prints "ring3: ok\r\n" itself, through the UART, and asks the kernel to exit 0
;     (INT 0x80 function 0).
; Failure: "ring3: FAIL <step>: <what>\r\n", status 1 (a failure in ring 3 reaches ring 0 through
; INT FAIL_VECTOR, a DPL-3 gate).

%define GUEST_NAME "ring3"
%include "mb-common.inc"

TSS_SEL         equ 0x28
PG_P            equ 0x01
PG_RW           equ 0x02
PG_US           equ 0x04
CR0_WP          equ 0x10000
CR0_AM          equ 0x40000
SYS_EXIT        equ 0
SYS_CHECK       equ 1
SYS_ALLOW_COM1  equ 2

main:
        STEP    "setup"
        ; TSS: ring-0 stack for interrupts from ring 3.
        mov     dword [tss + 4], kstack_top
        mov     dword [tss + 8], KDATA
        ltr     word [tss_sel_var]
        ; SYSENTER MSRs.
        xor     edx, edx
        mov     ecx, 0x174
        mov     eax, KCODE
        wrmsr
        inc     ecx
        mov     eax, sysenter_stack_top
        wrmsr
        inc     ecx
        mov     eax, sysenter_entry
        wrmsr
        ; Page table: 0-4 MiB, user + writable, except the supervisor page.
        mov     edi, page_table
        mov     eax, PG_P | PG_RW | PG_US
        mov     ecx, 1024
.pt:    stosd
        add     eax, 0x1000
        loop    .pt
        mov     eax, super_page
        shr     eax, 12
        and     dword [page_table + eax * 4], ~PG_US
        mov     dword [page_dir], page_table + (PG_P | PG_RW | PG_US)
        mov     eax, page_dir
        mov     cr3, eax
        mov     eax, cr0
        and     eax, ~0x60000000        ; CD, NW off (a BIOS may leave NW set)
        or      eax, 0x80000000 | CR0_WP | CR0_AM
        mov     cr0, eax
        ; Gates.
        SET_GATE 0x80, syscall_entry, KCODE, 0xee
        SET_GATE 0x81, dpl0_entry, KCODE, 0x8e
        ; To ring 3.
        mov     ax, UDATA | 3
        mov     ds, ax
        mov     es, ax
        mov     gs, ax
        mov     ax, KDATA
        mov     fs, ax                  ; DPL 0: must read as 0 in ring 3
        push    dword UDATA | 3
        push    dword ustack_top
        push    dword FL_IF | 2
        push    dword UCODE | 3
        push    dword user_entry
        iretd

; ------------------------------------------------------------------------------------------------
; Ring 3.
user_entry:
        STEP    "iret to ring 3"
        CHECK_SEG cs, UCODE | 3, "CS"
        CHECK_SEG ss, UDATA | 3, "SS"
        CHECK_EQ esp, ustack_top, "ESP"
        CHECK_SEG fs, 0, "FS (DPL 0) not nulled"
        CHECK_SEG gs, UDATA | 3, "GS"
        CHECK_SEG ds, UDATA | 3, "DS"
        pushfd
        pop     eax
        CHECK_MASK eax, FL_IF | FL_IOPL | FL_VM, FL_IF, "EFLAGS"

        STEP    "int 0x80 (DPL 3 gate)"
        mov     [user_esp], esp
        mov     ebx, 0x12345678
        mov     eax, SYS_CHECK
        pushfd
        pop     dword [user_eflags]
int80_site:
        int     0x80
int80_next:
        CHECK_EQ eax, 0x600d0001, "result in EAX"
        CHECK_EQ esp, [user_esp], "ESP after IRET"
        CHECK_SEG cs, UCODE | 3, "CS after IRET"
        CHECK_SEG ss, UDATA | 3, "SS after IRET"
        CHECK_EQ ebx, 0x12345678, "EBX"

        STEP    "int 0x81 (DPL 0 gate) from ring 3"
        FAULT   V_GP, 0x81 * 8 + 2, {int 0x81}

        STEP    "sysenter/sysexit"
        mov     [user_esp], esp
        mov     ecx, esp
        mov     edx, sysexit_target
        mov     esi, 0x5e5e5e5e
        sysenter
        FAIL    "sysenter fell through"
sysexit_target:
        CHECK_EQ esi, 0x5e5e0001, "result in ESI"
        CHECK_EQ esp, [user_esp], "ESP after SYSEXIT"
        CHECK_SEG cs, UCODE | 3, "CS after SYSEXIT"
        CHECK_SEG ss, UDATA | 3, "SS after SYSEXIT"
        pushfd
        pop     eax
        CHECK_MASK eax, FL_IF, FL_IF, "IF after sti; sysexit"

        STEP    "cli at CPL 3, IOPL 0"
        FAULT   V_GP, 0, {cli}
        STEP    "hlt at CPL 3"
        FAULT   V_GP, 0, {hlt}
        STEP    "mov eax, cr0 at CPL 3"
        FAULT   V_GP, 0, {mov eax, cr0}
        STEP    "in at CPL 3, port denied"
        mov     dx, COM1 + UART_LSR
        FAULT   V_GP, 0, {in al, dx}
        STEP    "out at CPL 3, port denied"
        FAULT   V_GP, 0, {out dx, al}

%ifndef TCG
        STEP    "#AC"
        mov     eax, [aligned_var + 1]  ; EFLAGS.AC = 0: no check
        pushfd
        or      dword [esp], FL_AC
        popfd
        mov     eax, [aligned_var]      ; aligned: fine
        FAULT   V_AC, 0, {mov eax, [aligned_var + 1]}
        pushfd
        and     dword [esp], ~FL_AC
        popfd
%endif

        STEP    "user read of a supervisor page"
        FAULT   V_PF, 0x5, {mov eax, [super_page + 0x10]}
        CHECK_EQ [got_cr2], super_page + 0x10, "CR2"
        STEP    "user write to a supervisor page"
        FAULT   V_PF, 0x7, {mov [super_page + 0x20], eax}
        CHECK_EQ [got_cr2], super_page + 0x20, "CR2"

        STEP    "I/O bitmap"
        mov     eax, SYS_ALLOW_COM1
        int     0x80
        mov     dx, COM1 - 1
        FAULT   V_GP, 0, {in al, dx}
        mov     dx, COM1 + 7
        FAULT   V_GP, 0, {in ax, dx}
        mov     dx, COM1 + UART_LSR
        in      al, dx                  ; allowed now

        STEP    "print from ring 3"
        mov     esi, msg_ok
        call    serial_puts
        mov     eax, SYS_EXIT
        xor     ebx, ebx
        int     0x80
        FAIL    "exit returned"

; ------------------------------------------------------------------------------------------------
; Ring 0: INT 0x80. EAX = function. Frame: EIP, CS, EFLAGS, ESP, SS.
syscall_entry:
        cmp     esp, kstack_top - 20
        je      .stack_ok
        mov     [user_esp], esp         ; for the message
        CHECK_EQ [user_esp], kstack_top - 20, "ESP at handler entry (not the TSS stack)"
.stack_ok:
        CHECK_SEG cs, KCODE, "handler CS"
        CHECK_SEG ss, KDATA, "handler SS (TSS SS0)"
        cmp     eax, SYS_CHECK
        je      .check
        cmp     eax, SYS_ALLOW_COM1
        je      .allow
        cmp     eax, SYS_EXIT
        jne     .bad
        mov     eax, ebx
        EXIT_AL
.bad:
        FAIL    "bad function"
.allow:
        mov     byte [iomap + (COM1 >> 3)], 0   ; ports 0x3F8-0x3FF
        iretd
.check:
        CHECK_EQ [esp], int80_next, "frame EIP"
        CHECK_EQ [esp + 4], UCODE | 3, "frame CS"
        CHECK_EQ [esp + 8], [user_eflags], "frame EFLAGS"
        CHECK_EQ [esp + 12], [user_esp], "frame ESP"
        CHECK_EQ [esp + 16], UDATA | 3, "frame SS"
        pushfd
        pop     eax
        CHECK_MASK eax, FL_IF, 0, "IF in the handler (interrupt gate)"
        CHECK_EQ ebx, 0x12345678, "EBX in the handler"
        mov     eax, 0x600d0001
        iretd

; Ring 0: INT 0x81 must not be reachable from ring 3.
dpl0_entry:
        FAIL    "reached the DPL 0 gate"

; Ring 0: SYSENTER.
sysenter_entry:
        CHECK_EQ esp, sysenter_stack_top, "ESP = MSR 0x175"
        CHECK_SEG cs, KCODE, "CS = MSR 0x174"
        CHECK_SEG ss, KDATA, "SS = MSR 0x174 + 8"
        pushfd
        pop     eax
        CHECK_MASK eax, FL_IF, 0, "IF after sysenter"
        CHECK_EQ ecx, [user_esp], "ECX"
        CHECK_EQ edx, sysexit_target, "EDX"
        CHECK_EQ esi, 0x5e5e5e5e, "ESI"
        mov     esi, 0x5e5e0001
        sti
        sysexit

; ------------------------------------------------------------------------------------------------
        align   4
tss_sel_var:    dw TSS_SEL
        align   4
aligned_var:    dd 0, 0

; The TSS, with a full I/O permission bitmap (all ports denied) and its terminating 0xFF byte.
        align   16
tss:
        times   0x66 db 0
        dw      iomap - tss             ; I/O map base
iomap:
        times   8192 db 0xff
        db      0xff
tss_end:

        GDT_BEGIN
        GDT_FLAT
        DESC    ABS(tss), tss_end - tss - 1, 0x89, 0x0     ; 0x28: 32-bit TSS, available
        GDT_END

        section .bss
        BSS_ALIGN 4096
page_dir:       resd    1024
page_table:     resd    1024
super_page:     resb    4096
                resb    4096
ustack_top:
                resb    4096
kstack_top:
                resb    1024
sysenter_stack_top:
user_esp:       resd    1
user_eflags:    resd    1

        MB_END
