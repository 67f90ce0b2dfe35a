; Protected-mode transfer test driver: one image runs hundreds of generated cases in one boot.
; Assembled by tools/gen-pm-cases.py, which also writes the case blob (CASES) and passes the
; memory layout as -D defines, so the layout has one source of truth (the generator). See
; images/guests/pm/README.md for the whole scheme.
;
; A Multiboot v1 kernel with the a.out kludge (as the guests of mb-common.inc): vmrun --kernel
; and images/guests/pm/boot.asm (the floppy loader used under Bochs) load it at 1 MiB and enter
; it at CPL 0 in flat 32-bit protected mode, paging off.
;
; The world: WORLD .. WORLD+WSIZE holds everything a case may touch: the case part of the GDT
; (selectors 0x200 and up), the IDT, the case TSSs, one stack area per ring and the code area.
; Its pristine contents (the template) come first in the blob. For each case the driver
;   1. copies the template over the world and applies the case's patches (16-bit world offset,
;      dword value), writes the three SYSENTER MSRs from the case header,
;   2. copies the world to SNAP,
;   3. JMPs to the TSS at selector TSS_A: the task switch loads the case's whole initial state
;      (general registers, EFLAGS, CS:EIP, SS:ESP, DS..GS, LDTR) from the case's TSS.
; The case runs until an exception. Every vector 0-31 is a task gate (DPL 3) to a recorder task
; R_v (selector REC_SEL + 8v); the code area is filled with INT3 (0xCC), so a transfer that
; lands ends in #BP. The task switch into R_v saves the case's registers, EFLAGS, EIP and
; selectors into the case's current TSS (in the world) and pushes the error code, if any, on
; R_v's stack. R_v then writes one RSLOT-byte record at RESULTS + index * RSLOT:
;   +0 vector   +4 bytes pushed on the recorder stack (0 or 4)   +8 error code (0 if none)
;   +12 back link of R_v's TSS (the case's TSS selector at the exception)
;   +16 number of world dwords that differ from SNAP   +20 case index
;   +32 up to MAXE entries (world offset, value before, value after) of the differing dwords.
; Each recorder task resumes, when entered again, right after the JMP that left it (step 3),
; which is the recording code: so the tasks need no resetting between cases.
; After the last case: "<NAME>: <n> cases\r\n" on COM1, XCHG BX,BX (Bochs's magic breakpoint:
; the runner dumps RESULTS from its debugger), then status 0 to the exit port.

        bits    32
        org     0x100000

%include "common.inc"

MB_MAGIC        equ 0x1badb002
MB_FLAGS        equ 0x00010000
MB_EAX_MAGIC    equ 0x2badb002

KCODE           equ 0x08
KDATA           equ 0x10
BOOT_SEL        equ 0x18
; REC_SEL, GDT_BASE, GDT_LIMIT, IDT_BASE, WORLD, WSIZE, SNAP, VARS, REC_TSS, REC_TOP, RESULTS,
; RSLOT, MAXE, TSS_A come from the generator (-D).

mb_header:
        dd      MB_MAGIC
        dd      MB_FLAGS
        dd      -(MB_MAGIC + MB_FLAGS)
        dd      mb_header
        dd      0x100000
        dd      load_end
        dd      load_end
        dd      mb_entry

        SERIAL_ROUTINES

gdtr:   dw      GDT_LIMIT
        dd      GDT_BASE
idtr:   dw      0x7ff
        dd      IDT_BASE
case_far:
        dd      0
        dw      TSS_A

; The driver's variables live at VARS, away from its code: a store to a page that holds code
; makes an emulator like vmrun drop what it decoded there.
case_ptr        equ VARS
case_idx        equ VARS + 4
result_ptr      equ VARS + 8
cur_vec         equ VARS + 12
name_str:       db NAME, ": ", 0
tail_str:       db " cases", 13, 10, 0
bad_str:        db NAME, ": not entered by a multiboot loader", 13, 10, 0

; EDI = descriptor address, EAX = base, EDX = limit (byte granular, < 1 MiB), ECX = access byte.
put_desc:
        mov     [edi], dx
        mov     [edi + 2], ax
        ror     eax, 16
        mov     [edi + 4], al
        mov     [edi + 5], cl
        shr     edx, 16
        and     dl, 0x0f
        mov     [edi + 6], dl
        mov     [edi + 7], ah
        rol     eax, 16
        ret

mb_entry:
        cli
        cld
        mov     esp, REC_TOP
        mov     ebp, eax
        call    serial_init
        cmp     ebp, MB_EAX_MAGIC
        je      .ok
        mov     esi, bad_str
        call    serial_puts
        EXIT    1
.ok:
        ; The driver's part of the GDT: flat code and data, the boot TSS, the recorder TSSs.
        mov     edi, GDT_BASE
        xor     eax, eax
        mov     [edi], eax
        mov     [edi + 4], eax
        mov     dword [edi + KCODE], 0x0000ffff
        mov     dword [edi + KCODE + 4], 0x00cf9b00
        mov     dword [edi + KDATA], 0x0000ffff
        mov     dword [edi + KDATA + 4], 0x00cf9300
        lea     edi, [GDT_BASE + BOOT_SEL]
        mov     eax, REC_TSS - 0x80     ; the boot TSS sits just below the recorder TSSs
        mov     edx, 0x67
        mov     ecx, 0x89
        call    put_desc
        xor     ebx, ebx
.rec_desc:
        lea     edi, [GDT_BASE + REC_SEL + ebx * 8]
        mov     eax, ebx
        shl     eax, 7
        add     eax, REC_TSS
        mov     edx, 0x67
        mov     ecx, 0x89
        call    put_desc
        ; The recorder TSS: zero it, then CS:EIP, EFLAGS, EAX = vector, SS:ESP, data segments.
        push    eax
        mov     edi, eax
        push    ebx
        xor     eax, eax
        mov     ecx, 0x80 / 4
        rep     stosd
        pop     ebx
        pop     edi
        mov     dword [edi + 0x04], REC_TOP
        mov     dword [edi + 0x08], KDATA
        mov     dword [edi + 0x20], rec_entry
        mov     dword [edi + 0x24], 2
        mov     [edi + 0x28], ebx
        mov     dword [edi + 0x38], REC_TOP
        mov     dword [edi + 0x48], KDATA
        mov     dword [edi + 0x4c], KCODE
        mov     dword [edi + 0x50], KDATA
        mov     dword [edi + 0x54], KDATA
        mov     dword [edi + 0x58], KDATA
        mov     dword [edi + 0x5c], KDATA
        mov     dword [edi + 0x64], 0x00680000
        inc     ebx
        cmp     ebx, 32
        jb      .rec_desc
        ; The boot TSS (its state is saved by the first JMP to a case and never used again).
        mov     edi, REC_TSS - 0x80
        xor     eax, eax
        mov     ecx, 0x80 / 4
        rep     stosd
        mov     dword [REC_TSS - 0x80 + 0x64], 0x00680000
        lgdt    [gdtr]
        jmp     KCODE:.reload
.reload:
        mov     ax, KDATA
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        mov     esp, REC_TOP
        PIC_INIT 0xff, 0xff
        ; The world template also holds the IDT; load it once so that LIDT sees a valid table.
        mov     esi, blob + 12
        mov     edi, WORLD
        mov     ecx, WSIZE / 4
        rep     movsd
        lidt    [idtr]
        mov     ax, BOOT_SEL
        ltr     ax
        mov     dword [cur_vec], -1
        mov     dword [case_ptr], blob + 12 + WSIZE
        mov     dword [case_idx], 0
        mov     dword [result_ptr], RESULTS
        ; fall through

; Set up the next case and enter it (ESP = REC_TOP here, in the boot or a recorder task).
prepare:
        mov     eax, [case_idx]
        cmp     eax, [blob + 4]
        jae     finish
        mov     esi, blob + 12
        mov     edi, WORLD
        mov     ecx, WSIZE / 4
        rep     movsd
        mov     esi, [case_ptr]
        lodsd
        mov     ebx, eax                ; patch count
        mov     ecx, 0x174              ; IA32_SYSENTER_CS, _ESP, _EIP
.msr:
        lodsd
        xor     edx, edx
        wrmsr
        inc     ecx
        cmp     ecx, 0x177
        jb      .msr
        test    ebx, ebx
        jz      .patched
.patch:
        movzx   edx, word [esi]
        mov     eax, [esi + 2]
        mov     [WORLD + edx], eax
        add     esi, 6
        dec     ebx
        jnz     .patch
.patched:
        mov     [case_ptr], esi
        mov     esi, WORLD
        mov     edi, SNAP
        mov     ecx, WSIZE / 4
        rep     movsd
        clts
        mov     eax, [cur_vec]
        mov     esp, REC_TOP
        jmp     far [case_far]
; A recorder task starts here (its TSS's EIP) or resumes here (after its JMP to a case).
; EAX = its vector, ESP = REC_TOP less the error code if one was pushed.
rec_entry:
        cld
        mov     ebx, [result_ptr]
        mov     [ebx], eax
        mov     [cur_vec], eax
        mov     ecx, REC_TOP
        sub     ecx, esp
        mov     [ebx + 4], ecx
        xor     edx, edx
        jecxz   .noerr
        mov     edx, [esp]
.noerr:
        mov     [ebx + 8], edx
        shl     eax, 7
        movzx   edx, word [REC_TSS + eax]
        mov     [ebx + 12], edx
        mov     eax, [case_idx]
        mov     [ebx + 20], eax
        lea     ebp, [ebx + 32]
        xor     edx, edx
        mov     esi, WORLD
.chunk:                                 ; 64 bytes at a time, without branches (one block)
%assign k 0
%rep 16
        mov     eax, [esi + k]
        xor     eax, [esi + k + SNAP - WORLD]
  %if k == 0
        mov     ecx, eax
  %else
        or      ecx, eax
  %endif
%assign k k + 4
%endrep
        test    ecx, ecx
        jnz     .detail
.cnext:
        add     esi, 64
        cmp     esi, WORLD + WSIZE
        jb      .chunk
        jmp     .done
.detail:                                ; the differing dwords of this chunk
        lea     edi, [esi + 64]
.scan:
        mov     eax, [esi]
        cmp     eax, [esi + SNAP - WORLD]
        je      .same
        inc     edx
        cmp     edx, MAXE
        ja      .same
        lea     ecx, [esi - WORLD]
        mov     [ebp], ecx
        mov     ecx, [esi + SNAP - WORLD]
        mov     [ebp + 4], ecx
        mov     [ebp + 8], eax
        add     ebp, 12
.same:
        add     esi, 4
        cmp     esi, edi
        jb      .scan
        sub     esi, 64
        jmp     .cnext
.done:
        mov     [ebx + 16], edx
        mov     esp, REC_TOP
        inc     dword [case_idx]
        add     dword [result_ptr], RSLOT
        jmp     prepare

finish:
        mov     esi, name_str
        call    serial_puts
        mov     eax, [case_idx]
        call    put_dec
        mov     esi, tail_str
        call    serial_puts
        mov     dx, COM1 + UART_LSR
.drain:
        in      al, dx                  ; wait until the UART has sent everything (TEMT)
        test    al, 0x40
        jz      .drain
        xchg    bx, bx                  ; Bochs: magic breakpoint (the runner's dump); elsewhere a no-op
        EXIT    0

; Print EAX in decimal on COM1.
put_dec:
        mov     ecx, 10
        xor     ebx, ebx
.div:
        xor     edx, edx
        div     ecx
        push    edx
        inc     ebx
        test    eax, eax
        jnz     .div
.out:
        pop     eax
        add     al, '0'
        call    serial_putc
        dec     ebx
        jnz     .out
        ret

        align   4
; The blob: "PMC1", case count, world size, the world template, then the cases (count of
; patches, SYSENTER_CS, SYSENTER_ESP, SYSENTER_EIP, then the patches: dw offset, dd value).
blob:
        incbin  CASES
load_end:
