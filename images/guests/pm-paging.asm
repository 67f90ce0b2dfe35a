; pm-paging: protected mode, paging and a recoverable page fault.
;
; Real mode -> GDT with flat 4 GiB code (0x08) and data (0x10) -> CR0.PE -> far jump to 32-bit
; code, which builds, one after the other:
;   0x1000  a page table identity-mapping the low 4 MiB with 4 KiB pages,
;   0x2000  the page directory (entry 0 -> that page table, the rest not present),
;   0x3000  an IDT of 32 interrupt gates, all leading to a failure report except #PF (vector 14).
; The page at linear 0x00200000 is then marked not present. (It and all tables have address bit 20
; clear, so the guest works whether A20 is enabled or not; it needs 2 MiB + 4 KiB of RAM.)
; With paging on (CR3 = 0x2000, CR0.PG) the guest writes a dword to 0x00200123:
;   - the #PF handler checks CR2 = 0x00200123 and error code 0x2 (write, not present,
;     supervisor), sets the PTE's present bit, INVLPGs the page, drops the error code and IRETs;
;     the write is restarted and completes;
;   - then the guest checks: exactly one fault (EBP counts them), the value reads back, the CPU
;     set the Accessed and Dirty bits in the PTE and the Accessed bit in the PDE.
; Success: "pm-paging: ok\r\n", exit status 0.
; Failure: "pm-paging: FAIL <what>\r\n", exit status 1, where <what> is one of
;   no #PF, refault, cr2, errcode, data, A/D (PTE bits), PDE.A, exception (any other exception).
        bits    16
        org     0x7c00
%include "common.inc"

PT              equ 0x1000
PD              equ 0x2000
IDT             equ 0x3000
IDT_ENTRIES     equ 32
TEST_PAGE       equ 0x00200000
TEST_ADDR       equ TEST_PAGE + 0x123
TEST_PTE        equ PT + (TEST_PAGE >> 12) * 4
TEST_VALUE      equ 0x600dcafe
PG_PRESENT      equ 0x01
PG_WRITE        equ 0x02
PG_ACCESSED     equ 0x20
PG_DIRTY        equ 0x40
CODE_SEL        equ 0x08
DATA_SEL        equ 0x10

start:
        BOOT_START
        call    serial_init
        lgdt    [gdtr]
        mov     eax, cr0
        or      al, 1                   ; PE
        mov     cr0, eax
        jmp     CODE_SEL:pm32

        SERIAL_INIT

        bits    32
pm32:
        mov     ax, DATA_SEL
        mov     ds, ax
        mov     es, ax
        mov     ss, ax                  ; ESP = 0x7C00 from BOOT_START
        xor     esi, esi                ; the strings lie below 64 KiB: from now on SI is enough

        ; Page table: identity map of 0-4 MiB, present and writable.
        mov     edi, PT
        mov     eax, PG_PRESENT | PG_WRITE
        mov     ecx, 1024
.pt:
        stosd
        add     eax, 0x1000
        loop    .pt
        ; EDI = PD: clear the page directory, then point entry 0 at the page table.
        xor     eax, eax
        mov     ch, 1024 >> 8           ; ECX was 0: now 1024
        rep     stosd
        mov     word [PD], PT | PG_PRESENT | PG_WRITE
        ; EDI = IDT: 32-bit interrupt gates (type 0xE, present, DPL 0). Handlers are below 64 KiB.
        mov     cl, IDT_ENTRIES
.idt:
        mov     dword [edi], (CODE_SEL << 16) + unexpected
        mov     dword [edi + 4], 0x00008e00
        add     edi, 8
        loop    .idt
        mov     word [IDT + 14 * 8], page_fault
        lidt    [idtr]

        and     byte [TEST_PTE], ~PG_PRESENT & 0xff    ; the test page is not present
        mov     eax, PD
        mov     cr3, eax
        mov     eax, cr0
        bts     eax, 31                 ; PG
        mov     cr0, eax

        xor     ebp, ebp                ; page faults taken
        mov     edi, TEST_ADDR
        mov     eax, TEST_VALUE
        mov     [edi], eax              ; faults once, then completes

        mov     si, why_nofault
        cmp     ebp, 1
        jne     fail
        mov     si, why_data
        cmp     [edi], eax
        jne     fail
        mov     si, why_ad
        mov     al, [TEST_PTE]
        and     al, PG_ACCESSED | PG_DIRTY
        cmp     al, PG_ACCESSED | PG_DIRTY
        jne     fail
        mov     si, why_pde
        test    byte [PD], PG_ACCESSED
        jz      fail

        mov     si, ok_msg
        call    serial_puts
        mov     al, 0
exit:
        EXIT_AL

; Print "pm-paging: FAIL " and the reason at ESI, exit 1.
fail:
        push    esi
        mov     si, fail_msg
        call    serial_puts
        pop     esi
        call    serial_puts
        mov     si, crlf
        call    serial_puts
        mov     al, 1
        jmp     exit

unexpected:
        mov     si, why_exception
        jmp     fail

; #PF: [esp] = error code, then EIP, CS, EFLAGS.
page_fault:
        push    eax
        push    esi
        mov     si, why_refault
        test    ebp, ebp
        jnz     fail
        mov     si, why_cr2
        mov     eax, cr2
        cmp     eax, TEST_ADDR
        jne     fail
        mov     si, why_errcode
        cmp     dword [esp + 8], PG_WRITE       ; W/R=1, P=0, U/S=0
        jne     fail
        inc     ebp
        or      byte [TEST_PTE], PG_PRESENT     ; map the page
        invlpg  [TEST_ADDR]
        pop     esi
        pop     eax
        add     esp, 4                  ; drop the error code
        iretd

        SERIAL_IO

        align   8
; The null descriptor is never loaded, so its 8 bytes hold the GDTR image.
gdt:
gdtr:   dw      gdt_end - gdt - 1
        dd      gdt
        dw      0
        dq      0x00cf9a000000ffff      ; 0x08: code, base 0, limit 4 GiB, 32-bit, DPL 0
        dq      0x00cf92000000ffff      ; 0x10: data, base 0, limit 4 GiB, writable
gdt_end:
idtr:   dw      IDT_ENTRIES * 8 - 1
        dd      IDT

ok_msg:         db "pm-paging: ok"
crlf:           db 13, 10, 0
fail_msg:       db "pm-paging: FAIL ", 0
why_nofault:    db "no #PF", 0
why_refault:    db "refault", 0
why_cr2:        db "cr2", 0
why_errcode:    db "errcode", 0
why_data:       db "data", 0
why_ad:         db "A/D", 0
why_pde:        db "PDE.A", 0
why_exception:  db "exception", 0

        BOOT_SIGNATURE
