; vmrun test initramfs: /init, a freestanding static i386 Linux program (no libc).
;
; 1. prints the userspace marker,
; 2. does a little x87 arithmetic and prints what it got ("fp ok" only if the values are right),
; 3. powers the machine off with reboot(2). If an argument "restart" reached init (kernel command
;    line "... -- restart"), it asks for a restart instead: under QEMU -no-reboot or
;    vmrun --no-reboot that ends the run too, on a PC without ACPI where power-off can only halt.
;
; Build: nasm -f elf32 init.asm -o init.o && ld -m elf_i386 -static -s --build-id=none -z noexecstack -o init init.o
; System calls go through int 0x80: eax = number, ebx/ecx/edx = arguments.

bits 32

SYS_WRITE   equ 4
SYS_PAUSE   equ 29
SYS_REBOOT  equ 88

REBOOT_MAGIC1       equ 0xfee1dead
REBOOT_MAGIC2       equ 0x28121969
REBOOT_CMD_POWER_OFF equ 0x4321fedc
REBOOT_CMD_RESTART  equ 0x01234567

section .data

hello:      db "vmrun-init: hello from userspace", 10
hello_len   equ $ - hello

fp_ok:      db "vmrun-init: fp ok: sqrt(2)*1e6 = "
fp_ok_len   equ $ - fp_ok
fp_bad:     db "vmrun-init: fp FAIL: sqrt(2)*1e6 = "
fp_bad_len  equ $ - fp_bad
fp_mid:     db ", 1e6/7 = "
fp_mid_len  equ $ - fp_mid
newline:    db 10

msg_off:    db "vmrun-init: powering off", 10
msg_off_len equ $ - msg_off
msg_rst:    db "vmrun-init: restarting", 10
msg_rst_len equ $ - msg_rst
msg_fail:   db "vmrun-init: reboot(2) returned", 10
msg_fail_len equ $ - msg_fail

restart_arg: db "restart", 0

million:    dd 1000000.0
two:        dd 2.0
seven:      dd 7.0

section .bss

root2:      resd 1              ; round(sqrt(2) * 1e6)
seventh:    resd 1              ; round(1e6 / 7)
numbuf:     resb 12

section .text
global _start

; write(1, ecx, edx)
write_out:
    mov eax, SYS_WRITE
    mov ebx, 1
    int 0x80
    ret

; Print eax as an unsigned decimal number.
print_uint:
    lea edi, [numbuf + 12]
    mov ecx, 10
.digit:
    xor edx, edx
    div ecx
    add dl, '0'
    dec edi
    mov [edi], dl
    test eax, eax
    jnz .digit
    mov ecx, edi
    lea edx, [numbuf + 12]
    sub edx, edi
    jmp write_out

_start:
    mov ecx, hello
    mov edx, hello_len
    call write_out

    ; x87: sqrt(2) * 1e6 and 1e6 / 7, rounded to nearest (the default control word).
    finit
    fld dword [two]
    fsqrt
    fmul dword [million]
    fistp dword [root2]
    fld dword [million]
    fdiv dword [seven]
    fistp dword [seventh]

    cmp dword [root2], 1414214
    jne .fp_wrong
    cmp dword [seventh], 142857
    jne .fp_wrong
    mov ecx, fp_ok
    mov edx, fp_ok_len
    jmp .fp_print
.fp_wrong:
    mov ecx, fp_bad
    mov edx, fp_bad_len
.fp_print:
    call write_out
    mov eax, [root2]
    call print_uint
    mov ecx, fp_mid
    mov edx, fp_mid_len
    call write_out
    mov eax, [seventh]
    call print_uint
    mov ecx, newline
    mov edx, 1
    call write_out

    ; Look for "restart" among argv[1..] (at entry: [esp] = argc, [esp+4] = argv[0], ...).
    mov ebp, REBOOT_CMD_POWER_OFF
    mov ecx, [esp]
    lea esi, [esp + 8]
.next_arg:
    dec ecx
    jle .args_done
    mov edi, [esi]
    add esi, 4
    mov ebx, restart_arg
.cmp:
    mov al, [edi]
    cmp al, [ebx]
    jne .next_arg
    test al, al
    jz .found
    inc edi
    inc ebx
    jmp .cmp
.found:
    mov ebp, REBOOT_CMD_RESTART
.args_done:

    cmp ebp, REBOOT_CMD_RESTART
    je .say_restart
    mov ecx, msg_off
    mov edx, msg_off_len
    jmp .say
.say_restart:
    mov ecx, msg_rst
    mov edx, msg_rst_len
.say:
    call write_out

    mov eax, SYS_REBOOT
    mov ebx, REBOOT_MAGIC1
    mov ecx, REBOOT_MAGIC2
    mov edx, ebp
    int 0x80

    ; Not reached unless reboot(2) failed. init must not exit (the kernel would panic): wait.
    mov ecx, msg_fail
    mov edx, msg_fail_len
    call write_out
.forever:
    mov eax, SYS_PAUSE
    int 0x80
    jmp .forever
