; cpuloop: a CPU-bound benchmark guest with a checked result (used by bench/).
;
; Real mode -> flat 32-bit protected mode, then:
;   fill   an 8 MiB buffer at 1 MiB with a linear congruential sequence (x = x * 1103515245 + 12345),
;   PASSES times: fold the buffer into a checksum (sum += v; sum = rol(sum, 5) ^ v),
; prints "cpuloop: XXXXXXXX" (the checksum in hex) and exits 0 when it equals EXPECTED, else 1.
; About 28 M instructions for the fill and 14 M per pass; needs 9 MiB of RAM.
        bits    16
        org     0x7c00
%include "common.inc"

BUF             equ 0x100000
WORDS           equ 0x200000            ; 8 MiB of dwords
PASSES          equ 16
EXPECTED        equ 0x5bd8c484          ; computed by bench/cpuloop-expected.mjs
CODE_SEL        equ 0x08
DATA_SEL        equ 0x10

start:
        BOOT_START
        call    serial_init
        in      al, 0x92                ; make sure A20 is open (a BIOS may leave it closed)
        or      al, 2
        and     al, 0xfe
        out     0x92, al
        lgdt    [gdtr]
        mov     eax, cr0
        or      al, 1
        mov     cr0, eax
        jmp     CODE_SEL:pm32

        SERIAL_INIT

        bits    32
pm32:
        mov     ax, DATA_SEL
        mov     ds, ax
        mov     es, ax
        mov     ss, ax

        mov     edi, BUF
        mov     ecx, WORDS
        mov     eax, 1
.fill:  imul    eax, eax, 1103515245
        add     eax, 12345
        mov     [edi], eax
        add     edi, 4
        dec     ecx
        jnz     .fill

        xor     ebx, ebx
        mov     ebp, PASSES
.pass:  mov     esi, BUF
        mov     ecx, WORDS
.sum:   mov     edx, [esi]
        add     ebx, edx
        rol     ebx, 5
        xor     ebx, edx
        add     esi, 4
        dec     ecx
        jnz     .sum
        dec     ebp
        jnz     .pass

        mov     esi, msg
        call    serial_puts
        mov     ecx, 8
.hex:   rol     ebx, 4
        mov     eax, ebx
        and     eax, 0x0f
        mov     al, [hexdigits + eax]
        call    serial_putc
        dec     ecx
        jnz     .hex
        mov     esi, crlf
        call    serial_puts
        cmp     ebx, EXPECTED
        jne     .bad
        EXIT    0
.bad:   EXIT    1

        SERIAL_IO

        align   8
gdt:
gdtr:   dw      gdt_end - gdt - 1
        dd      gdt
        dw      0
        dq      0x00cf9a000000ffff      ; 0x08: flat 32-bit code
        dq      0x00cf92000000ffff      ; 0x10: flat data
gdt_end:

msg:            db "cpuloop: ", 0
crlf:           db 13, 10, 0
hexdigits:      db "0123456789ABCDEF"

        BOOT_SIGNATURE
