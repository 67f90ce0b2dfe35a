; bad-opcode: print "bad-opcode\r\n", then execute the SSE instruction ADDPS XMM0, XMM1
; (bytes 0F 58 C1, at the address of the label `sse` below), which vmrun's core does not
; implement: vmrun must stop with exit code 3 and name CS:EIP and the bytes.
;
; Before printing, the guest turns SSE on the way an OS does (CR0.EM=0, CR0.MP=1, CR4.OSFXSR=1)
; so that on a CPU with SSE, such as QEMU's, the instruction simply runs; the guest then prints
; "bad-opcode: addps executed\r\n" and writes 0 to the exit port. A #UD instead (for example on
; a CPU without SSE) prints "bad-opcode: #UD\r\n" and writes 2 to the exit port.
        bits    16
        org     0x7c00
%include "common.inc"

start:
        BOOT_START
        mov     word [6 * 4], ud_handler        ; real-mode IVT entry for #UD
        mov     word [6 * 4 + 2], 0
        call    serial_init
        mov     eax, cr0
        and     al, ~0x04 & 0xff                ; EM = 0
        or      al, 0x02                        ; MP = 1
        mov     cr0, eax
        mov     eax, cr4
        or      ax, 0x0200                      ; OSFXSR
        mov     cr4, eax
        mov     si, message
        call    serial_puts
sse:
        addps   xmm0, xmm1
        mov     si, executed
        call    serial_puts
        EXIT    0

ud_handler:
        mov     si, undefined
        call    serial_puts
        EXIT    2

        SERIAL_ROUTINES

message:   db "bad-opcode", 13, 10, 0
executed:  db "bad-opcode: addps executed", 13, 10, 0
undefined: db "bad-opcode: #UD", 13, 10, 0

        BOOT_SIGNATURE
