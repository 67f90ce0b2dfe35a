; Floppy boot sector that starts a Multiboot a.out-kludge kernel under a PC BIOS (used to run the
; pm-* images under Bochs, which has no multiboot loader; vmrun and QEMU load them directly).
; tools/gen-pm-bochs.py assembles it with -DSECTORS=<n> and writes it, followed by the kernel
; from the second sector on, to a 1.44 MB floppy image.
;
; It reads the n sectors after it to 0x10000 with INT 13h (one at a time, CHS for 18 sectors per
; track and 2 heads), enables A20 through port 0x92, enters flat 32-bit protected mode, finds the
; multiboot header in the first 8 KiB, copies the image to the header's load address, zero-fills
; up to bss_end and jumps to the entry with EAX = 0x2BADB002 and EBX pointing at a zeroed
; information structure (flags 0: nothing in it is valid). Kernels up to about 570 KiB.

        bits    16
        org     0x7c00

        cli
        jmp     0:start
start:
        xor     ax, ax
        mov     ds, ax
        mov     ss, ax
        mov     sp, 0x7c00
        cld
        mov     [drive], dl
        mov     ax, 0x1000
        mov     es, ax
        mov     word [lba], 1
.read:
        mov     ax, [lba]
        cmp     ax, SECTORS + 1
        jae     .loaded
        xor     dx, dx
        mov     bx, 18
        div     bx                      ; AX = track index, DX = sector - 1
        mov     cl, dl
        inc     cl
        mov     dh, al
        and     dh, 1                   ; head
        shr     ax, 1
        mov     ch, al                  ; cylinder
        mov     byte [tries], 4
.try:
        mov     ax, 0x0201
        xor     bx, bx
        mov     dl, [drive]
        push    dx
        push    cx
        int     0x13
        pop     cx
        pop     dx
        jnc     .next
        xor     ah, ah
        int     0x13
        dec     byte [tries]
        jnz     .try
        mov     si, err_msg
.puts:
        lodsb
        test    al, al
        jz      .halt
        out     0xe9, al
        jmp     .puts
.halt:
        hlt
        jmp     .halt
.next:
        mov     ax, es
        add     ax, 0x20
        mov     es, ax
        inc     word [lba]
        jmp     .read
.loaded:
        in      al, 0x92
        or      al, 2
        and     al, 0xfe
        out     0x92, al
        lgdt    [gdtr]
        mov     eax, cr0
        or      al, 1
        mov     cr0, eax
        jmp     0x08:pm32

        bits    32
pm32:
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        mov     esp, 0x7c00
        mov     esi, 0x10000
.find:
        cmp     dword [esi], 0x1badb002
        jne     .skip
        mov     eax, [esi]
        add     eax, [esi + 4]
        add     eax, [esi + 8]
        jz      .found
.skip:
        add     esi, 4
        cmp     esi, 0x10000 + 8192
        jb      .find
        hlt
.found:
        mov     ebx, esi                ; header in the buffer
        sub     esi, [ebx + 12]
        add     esi, [ebx + 16]         ; the buffer byte that goes to load_addr
        mov     edi, [ebx + 16]
        mov     ecx, [ebx + 20]
        sub     ecx, edi
        rep     movsb
        mov     ecx, [ebx + 24]
        sub     ecx, edi
        jbe     .nobss
        xor     eax, eax
        rep     stosb
.nobss:
        mov     edx, [ebx + 28]
        mov     edi, 0x9000
        mov     ecx, 128
        xor     eax, eax
        rep     stosb
        mov     ebx, 0x9000
        mov     eax, 0x2badb002
        jmp     edx

        align   8
gdt:    dq      0
        dq      0x00cf9b000000ffff
        dq      0x00cf93000000ffff
gdtr:   dw      gdtr - gdt - 1
        dd      gdt
drive:  db      0
tries:  db      0
lba:    dw      0
err_msg: db     "boot: disk read error", 10, 0

        times   510 - ($ - $$) db 0
        dw      0xaa55
