; spin: interrupts off, jump to itself forever. Prints nothing and never exits: it is the guest
; for testing --timeout (vmrun should exit 124).
        bits    16
        org     0x7c00

start:
        cli
        jmp     $

        times   510 - ($ - $$) db 0
        dw      0xaa55
