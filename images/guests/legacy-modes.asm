; legacy-modes: legacy PC chip settings that real chips accept, used one after another in real
; mode; the guest must run to its end.
;
; Steps (the name is what a failure line shows):
;   i8042    controller commands 0x00 and 0x1F (no meaning in IBM's command set) give no reply
;            byte; then 0x20 (read the command byte) gives exactly one.
;   pit-bcd  PIT channel 2, mode 0, BCD, count 0x00AF (a digit above 9): right after the load the
;            latched count still has 0xA in bits 7-4 (it counts down through the invalid digit),
;            and OUT2 (port 0x61 bit 5) reaches terminal count within 65535 polls.
;   rtc-dse  MC146818 register B with DSE (bit 0) set reads back with it set; then it is cleared.
;   pic      the slave 8259A is initialised with ICW1 0x18 (level triggered, cascade, no ICW4:
;            MCS-80/85 mode) and left masked; the master (8086 mode, IRQ0 only) then delivers 10
;            PIT channel 0 ticks (mode 2, divisor 1193) with sti;hlt.
; Success: "legacy-modes: ok\r\n" and 0 to the exit port; failure: "legacy-modes: FAIL <step>\r\n"
; and 1.
        bits    16
        org     0x7c00
%include "common.inc"

KBC_DATA        equ 0x60
KBC_STATUS      equ 0x64
KBC_OBF         equ 0x01
PIT_CH2         equ 0x42
PORT_B          equ 0x61
PORT_B_GATE2    equ 0x01
PORT_B_SPEAKER  equ 0x02
PORT_B_OUT2     equ 0x20
RTC_INDEX       equ 0x70
RTC_DATA        equ 0x71
RTC_REG_B       equ 0x0b
RTC_DSE         equ 0x01
TICKS           equ 10

start:
        BOOT_START
        call    serial_init

        ; ---- i8042 ----
        mov     si, step_i8042
.flush:
        in      al, KBC_STATUS          ; whatever a BIOS left behind
        test    al, KBC_OBF
        jz      .flushed
        in      al, KBC_DATA
        jmp     .flush
.flushed:
        mov     al, 0x00
        out     KBC_STATUS, al
        mov     al, 0x1f
        out     KBC_STATUS, al
        in      al, KBC_STATUS
        test    al, KBC_OBF
        jnz     fail                    ; a reply to an undefined command
        mov     al, 0x20
        out     KBC_STATUS, al
        in      al, KBC_STATUS
        test    al, KBC_OBF
        jz      fail                    ; the controller stopped answering
        in      al, KBC_DATA
        in      al, KBC_STATUS
        test    al, KBC_OBF
        jnz     fail                    ; more than one byte

        ; ---- PIT channel 2, BCD count 0x00AF ----
        mov     si, step_pit
        in      al, PORT_B
        and     al, ~(PORT_B_GATE2 | PORT_B_SPEAKER)
        or      al, PORT_B_GATE2        ; gate high, speaker off
        out     PORT_B, al
        mov     al, 0xb1                ; channel 2, LSB then MSB, mode 0, BCD
        out     PIT_CMD, al
        mov     al, 0xaf
        out     PIT_CH2, al
        mov     al, 0x00
        out     PIT_CH2, al
        mov     al, 0x80                ; latch channel 2
        out     PIT_CMD, al
        in      al, PIT_CH2             ; LSB
        mov     ah, al
        in      al, PIT_CH2             ; MSB
        and     ah, 0xf0
        cmp     ah, 0xa0
        jne     fail
        mov     cx, 0xffff
.tc:
        in      al, PORT_B
        test    al, PORT_B_OUT2
        jnz     .tc_done
        loop    .tc
        jmp     fail
.tc_done:

        ; ---- RTC register B DSE ----
        mov     si, step_rtc
        mov     al, RTC_REG_B
        out     RTC_INDEX, al
        in      al, RTC_DATA
        mov     bl, al
        or      al, RTC_DSE
        out     RTC_DATA, al
        in      al, RTC_DATA
        test    al, RTC_DSE
        jz      fail
        mov     al, bl
        and     al, ~RTC_DSE
        out     RTC_DATA, al

        ; ---- PICs: slave in MCS-80/85 mode, ticks through the master ----
        mov     si, step_pic
        mov     di, PIC1_VECTOR * 4
        mov     cx, 16
.ivt:
        mov     word [di], irq_ignore
        mov     word [di + 2], 0
        add     di, 4
        loop    .ivt
        mov     word [PIC1_VECTOR * 4], irq0_handler

        mov     al, 0x11                ; master: edge, cascade, ICW4 follows
        out     PIC1_CMD, al
        mov     al, PIC1_VECTOR
        out     PIC1_DATA, al
        mov     al, 0x04                ; slave on IR2
        out     PIC1_DATA, al
        mov     al, 0x01                ; 8086 mode
        out     PIC1_DATA, al
        mov     al, 0x18                ; slave: level triggered, cascade, no ICW4
        out     PIC2_CMD, al
        mov     al, PIC2_VECTOR
        out     PIC2_DATA, al
        mov     al, 0x02                ; slave ID 2; no ICW4 follows
        out     PIC2_DATA, al
        mov     al, 0xff                ; OCW1: the slave all masked
        out     PIC2_DATA, al
        mov     al, 0xfe                ; the master: IRQ0 only
        out     PIC1_DATA, al

        mov     al, 0x34                ; channel 0, LSB then MSB, mode 2, binary
        out     PIT_CMD, al
        mov     al, 1193 & 0xff
        out     PIT_CH0, al
        mov     al, 1193 >> 8
        out     PIT_CH0, al
.wait:
        cli
        cmp     byte [ticks], TICKS
        jae     .done
        sti
        hlt
        jmp     .wait
.done:
        mov     al, 0xff
        out     PIC1_DATA, al
        mov     si, msg_ok
        call    serial_puts
        EXIT    0

; SI: the failing step's name.
fail:
        push    si
        mov     si, msg_fail
        call    serial_puts
        pop     si
        call    serial_puts
        mov     si, msg_crlf
        call    serial_puts
        EXIT    1

irq0_handler:
        inc     byte [cs:ticks]
irq_ignore:
        push    ax
        mov     al, PIC_EOI
        out     PIC1_CMD, al
        pop     ax
        iret

        SERIAL_ROUTINES

ticks:      db 0
msg_ok:     db "legacy-modes: ok", 13, 10, 0
msg_fail:   db "legacy-modes: FAIL ", 0
msg_crlf:   db 13, 10, 0
step_i8042: db "i8042", 0
step_pit:   db "pit-bcd", 0
step_rtc:   db "rtc-dse", 0
step_pic:   db "pic", 0

        BOOT_SIGNATURE
