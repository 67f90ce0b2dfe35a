; QEMU check of vmrun's bzImage loader: a multiboot (a.out kludge) stub that QEMU loads with
; -kernel. The pieces vmrun's loader produced arrive as multiboot modules, each with the command
; line "FILE ADDR" (ADDR in hex, no 0x). The stub copies every module to its ADDR, then enters the
; kernel exactly as vmrun would: flat 32-bit protected mode, paging and interrupts off,
; ESI = boot_params, EBP = EDI = EBX = 0, EIP = ENTRY.
;
; nasm -f bin -DENTRY=0x100000 -DBOOT_PARAMS=0x7000 stub.asm -o stub.mb
; The stub sits at 32 MiB, so QEMU puts the modules above it, away from where they get copied.

bits 32
LOAD_ADDR   equ 0x2000000
MB_MAGIC    equ 0x1badb002
MB_FLAGS    equ 0x00010001          ; a.out kludge, page-aligned modules
        org LOAD_ADDR

header:
        dd MB_MAGIC
        dd MB_FLAGS
        dd -(MB_MAGIC + MB_FLAGS)
        dd header                   ; header_addr
        dd LOAD_ADDR                ; load_addr
        dd 0                        ; load_end_addr: the whole file
        dd 0                        ; bss_end_addr: no bss
        dd start                    ; entry_addr

start:
        cli
        cld
        mov ecx, [ebx + 20]         ; mods_count
        mov ebp, [ebx + 24]         ; mods_addr: 16-byte entries (start, end, string, reserved)
.module:
        test ecx, ecx
        jz .enter
        ; Destination: the hex digits after the last space in the module's string.
        mov esi, [ebp + 8]
        xor edx, edx
.char:
        lodsb
        test al, al
        jz .copy
        cmp al, ' '
        jne .digit
        xor edx, edx                ; a space: start over
        jmp .char
.digit:
        sub al, '0'
        cmp al, 9
        jbe .add
        or al, 0x20                 ; 'A'-'0' → lowercase, then 'a'-'0' = 49
        sub al, 49 - 10
.add:
        shl edx, 4
        movzx eax, al
        or edx, eax
        jmp .char
.copy:
        mov edi, edx
        mov esi, [ebp]
        mov eax, ecx
        mov ecx, [ebp + 4]
        sub ecx, esi
        rep movsb
        mov ecx, eax
        add ebp, 16
        dec ecx
        jmp .module

.enter:
        mov esi, BOOT_PARAMS
        xor eax, eax
        xor ebx, ebx
        xor ecx, ecx
        xor edx, edx
        xor edi, edi
        xor ebp, ebp
        jmp ENTRY
