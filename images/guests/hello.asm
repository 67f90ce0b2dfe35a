; hello: print "Hello from vmrun guest\r\n" on COM1 (polling LSR.THRE), then write 0 to the exit
; port. Expected serial output, byte for byte: "Hello from vmrun guest\r\n". Exit status 0.
        bits    16
        org     0x7c00
%include "common.inc"

start:
        BOOT_START
        call    serial_init
        mov     si, message
        call    serial_puts
        EXIT    0

        SERIAL_ROUTINES

message: db "Hello from vmrun guest", 13, 10, 0

        BOOT_SIGNATURE
