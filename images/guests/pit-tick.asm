; pit-tick: count 100 timer interrupts from the 8254 PIT through the 8259 PIC, in real mode.
;
; Installs real-mode IVT entries for the remapped IRQ vectors 0x20-0x2F, programs the PICs
; (IRQ0 unmasked only), sets PIT channel 0 to mode 2 (rate generator) with divisor 1193
; (1193182 Hz / 1193 = about 1000 Hz), then waits with sti;hlt. The IRQ0 handler counts ticks and
; sends EOI. After 100 ticks (about 100 ms of guest time) it masks the PIC, prints
; "pit-tick: 100 ticks\r\n" and writes 0 to the exit port.
        bits    16
        org     0x7c00
%include "common.inc"

PIT_DIVISOR     equ 1193
TICKS           equ 100

start:
        BOOT_START
        call    serial_init

        ; Every remapped IRQ vector gets the "acknowledge and return" handler, IRQ0 the counter.
        mov     di, PIC1_VECTOR * 4
        mov     cx, 16
.ivt:
        mov     word [di], irq_ignore
        mov     word [di + 2], 0
        add     di, 4
        loop    .ivt
        mov     word [PIC1_VECTOR * 4], irq0_handler

        PIC_INIT 0xfe, 0xff             ; only IRQ0

        mov     al, 0x34                ; channel 0, lobyte/hibyte, mode 2, binary
        out     PIT_CMD, al
        mov     al, PIT_DIVISOR & 0xff
        out     PIT_CH0, al
        mov     al, PIT_DIVISOR >> 8
        out     PIT_CH0, al

.wait:
        cli                             ; test with interrupts off; sti;hlt cannot miss a tick
        cmp     word [ticks], TICKS
        jae     .done
        sti
        hlt
        jmp     .wait

.done:
        mov     al, 0xff                ; mask everything again
        out     PIC1_DATA, al
        mov     si, message
        call    serial_puts
        EXIT    0

irq0_handler:
        inc     word [cs:ticks]
irq_ignore:
        push    ax
        mov     al, PIC_EOI
        out     PIC2_CMD, al            ; harmless when the slave has nothing in service
        out     PIC1_CMD, al
        pop     ax
        iret

        SERIAL_ROUTINES

ticks:   dw 0
message: db "pit-tick: 100 ticks", 13, 10, 0

        BOOT_SIGNATURE
