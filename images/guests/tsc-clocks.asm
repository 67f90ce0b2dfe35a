; tsc-clocks: does the TSC tell the same time as the PIT and the RTC? Prints, in TSC cycles per
; millisecond of each device's time (1000000 for vmrun's nominal 1 GHz TSC):
;   "pit <n> rtc <m>\r\n", then writes 0 to the exit port.
; - PIT: channel 2 in mode 0 (interrupt on terminal count) with a count of 11932 (10.000 ms at
;   1.193182 MHz), gated through port 0x61 bit 0, the speaker off; the TSC is read when counting
;   starts and when OUT2 (port 0x61 bit 5) goes high: cycles / 10.
; - RTC: the periodic flag (register C bit 6) at 1024 Hz (register A rate 6); after a first flag,
;   the TSC over 64 more periods (62.5 ms): cycles * 16 / 1000.
        bits    16
        org     0x7c00
%include "common.inc"

start:
        BOOT_START
        call    serial_init

        ; --- PIT channel 2
        in      al, 0x61
        and     al, 0xfc                ; gate off, speaker off
        out     0x61, al
        mov     al, 0xb0                ; channel 2, LSB then MSB, mode 0, binary
        out     0x43, al
        mov     ax, 11932
        out     0x42, al
        mov     al, ah
        out     0x42, al
        rdtsc
        mov     ebx, eax
        in      al, 0x61
        or      al, 1                   ; gate on: counting starts
        out     0x61, al
.pit:   in      al, 0x61
        test    al, 0x20
        jz      .pit
        rdtsc
        sub     eax, ebx
        xor     edx, edx
        mov     ecx, 10
        div     ecx
        mov     si, s_pit
        call    serial_puts
        call    print_dec

        ; --- RTC periodic flag
        mov     al, 0x0a
        out     0x70, al
        mov     al, 0x26                ; 32.768 kHz time base, rate 6: 1024 Hz
        out     0x71, al
        mov     al, 0x0c
        out     0x70, al
        in      al, 0x71                ; clear the flags
        call    rtc_period              ; synchronise with a period boundary
        rdtsc
        mov     ebx, eax
        mov     cx, 64
.rtc:   call    rtc_period
        loop    .rtc
        rdtsc
        sub     eax, ebx
        shl     eax, 4                  ; * 16 / 1000: cycles per ms over 62.5 ms
        xor     edx, edx
        mov     ecx, 1000
        div     ecx
        mov     si, s_rtc
        call    serial_puts
        call    print_dec
        mov     si, s_end
        call    serial_puts
        EXIT    0

; Wait until the RTC's periodic flag is set (reading register C clears it).
rtc_period:
        mov     al, 0x0c
        out     0x70, al
        in      al, 0x71
        test    al, 0x40
        jz      rtc_period
        ret

; Print EAX in decimal.
print_dec:
        mov     ecx, 10
        xor     di, di
.div:   xor     edx, edx
        div     ecx
        push    dx
        inc     di
        test    eax, eax
        jnz     .div
.out:   pop     ax
        add     al, '0'
        call    serial_putc
        dec     di
        jnz     .out
        ret

        SERIAL_ROUTINES

s_pit:  db "pit ", 0
s_rtc:  db " rtc ", 0
s_end:  db 13, 10, 0

        BOOT_SIGNATURE
