; uart-irq: interrupt-driven echo on COM1 (IRQ4 through the 8259 PIC), in real mode.
;
; Every byte received is echoed, with a-z turned into A-Z (proof that the guest handled it).
; On receiving 'q' or 'Q' (echoed as 'Q') the guest prints "\r\nuart-irq: bye\r\n" and writes 0 to the
; exit port; bytes after the 'q' are ignored. So input "hello q" gives, byte for byte:
;   "HELLO Q\r\nuart-irq: bye\r\n"
;
; Unlike the other guests this one leaves the FIFO control register alone: switching the FIFO
; on or off resets the receiver, and would drop input that reached the UART before the guest ran
; (under QEMU the BIOS runs first while the input is already there). The receive loop below works
; with the FIFO on or off.
        bits    16
        org     0x7c00
%include "common.inc"

IRQ_COM1        equ 4

start:
        BOOT_START

        ; Line settings without touching the FIFO: 115200 baud, 8N1.
        mov     dx, COM1 + UART_IER
        xor     al, al
        out     dx, al
        mov     dx, COM1 + UART_LCR
        mov     al, UART_LCR_DLAB
        out     dx, al
        mov     dx, COM1 + UART_DLL
        mov     al, 1
        out     dx, al
        mov     dx, COM1 + UART_DLM
        xor     al, al
        out     dx, al
        mov     dx, COM1 + UART_LCR
        mov     al, UART_LCR_8N1
        out     dx, al

        mov     word [(PIC1_VECTOR + IRQ_COM1) * 4], irq4_handler
        mov     word [(PIC1_VECTOR + IRQ_COM1) * 4 + 2], 0

        PIC_INIT ~(1 << IRQ_COM1) & 0xff, 0xff  ; only IRQ4

        ; OUT2 connects the UART's interrupt output to IRQ4; then ask for receive interrupts.
        ; If input is already waiting, the interrupt is raised at once.
        mov     dx, COM1 + UART_MCR
        mov     al, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2
        out     dx, al
        mov     dx, COM1 + UART_IER
        mov     al, UART_IER_RDI
        out     dx, al

.wait:
        cli
        cmp     byte [done], 0
        jne     .bye
        sti
        hlt
        jmp     .wait

.bye:
        mov     dx, COM1 + UART_IER     ; no more receive interrupts
        xor     al, al
        out     dx, al
        mov     si, bye
        call    serial_puts
        EXIT    0

; IRQ4: read every byte the UART holds (this also drops its interrupt request), echo it.
irq4_handler:
        push    ax
        push    dx
.next:
        mov     dx, COM1 + UART_LSR
        in      al, dx
        test    al, UART_LSR_DR
        jz      .empty
        mov     dx, COM1 + UART_RBR
        in      al, dx
        cmp     byte [cs:done], 0       ; after the 'q': drain, do not echo
        jne     .next
        cmp     al, 'a'
        jb      .echo
        cmp     al, 'z'
        ja      .echo
        sub     al, 'a' - 'A'
.echo:
        call    serial_putc
        cmp     al, 'Q'
        jne     .next
        mov     byte [cs:done], 1
        jmp     .next
.empty:
        mov     al, PIC_EOI
        out     PIC1_CMD, al
        pop     dx
        pop     ax
        iret

        SERIAL_IO

done:   db 0
bye:    db 13, 10, "uart-irq: bye", 13, 10, 0

        BOOT_SIGNATURE
