; triple-fault: enter 32-bit protected mode, load an IDT with limit 0 and execute INT3.
; Vector 3 lies beyond the IDT limit -> #GP; vector 13 is beyond it too -> #DF; so is vector 8
; -> triple fault (shutdown). Prints nothing and never reaches the exit port.
; vmrun should exit 4 (guest crashed). QEMU resets the machine (with -no-reboot: exits with 0).
        bits    16
        org     0x7c00
%include "common.inc"

start:
        BOOT_START
        lgdt    [gdtr]
        mov     eax, cr0
        or      al, 1                   ; PE
        mov     cr0, eax
        jmp     0x08:pm32

        bits    32
pm32:
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        lidt    [idtr]                  ; no gates at all
        int3
        jmp     $                       ; not reached

        align   8
gdt:    dq      0
        dq      0x00cf9a000000ffff      ; 0x08: flat 32-bit code
        dq      0x00cf92000000ffff      ; 0x10: flat data
gdt_end:
gdtr:   dw      gdt_end - gdt - 1
        dd      gdt
idtr:   dw      0                       ; limit 0: not even vector 0 fits
        dd      0

        BOOT_SIGNATURE
