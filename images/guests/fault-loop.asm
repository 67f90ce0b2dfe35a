; fault-loop: exception deliveries that never retire an instruction. The IVT entries of #DE (0)
; and #UD (6) point at a UD2, so the first UD2 raises #UD, whose handler is that UD2 again,
; forever; nothing is printed and no instruction after the first few retires. The stack is in
; its own 64 KiB segment (SS = 0x1000), so the pushes of the endless deliveries wrap around
; inside it and never reach the code. Under vmrun this must still end with --timeout (124) or a
; signal: exception deliveries count against the instruction budget.
        bits    16
        org     0x7c00

start:
        cli
        xor     ax, ax
        mov     ds, ax
        mov     word [6 * 4], fault          ; #UD → the UD2 below
        mov     word [6 * 4 + 2], 0
        mov     word [0 * 4], fault          ; #DE → the same UD2
        mov     word [0 * 4 + 2], 0
        mov     ax, 0x1000
        mov     ss, ax
        xor     sp, sp
        div     byte [zero]                 ; #DE (AX / 0), handled by the UD2
fault:
        ud2
zero:   db      0

        times   510 - ($ - $$) db 0
        dw      0xaa55
