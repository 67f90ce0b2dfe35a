/*
 * paging-walk: /init of images/linux/initramfs-paging.cpio.gz, a freestanding static i386 Linux
 * program (no libc, raw int 0x80 system calls, built for a 486 by build-486.sh).
 *
 *  1. maps 16 MiB of anonymous memory (old_mmap);
 *  2. fills it in order with an xorshift32 sequence: 4096 demand-zero page faults;
 *  3. walks it PASSES times, each pass STEPS read-modify-writes at xorshift-random word indexes
 *     (nearly every access on another of the 4096 pages: TLB misses, page walks, dirty bits);
 *  4. folds the whole buffer into the checksum in order, compares it with CHECKSUM (computed
 *     independently by bench/paging-walk-expected.mjs) and prints
 *         "paging-walk: ok <checksum> in <us> us"    or    "paging-walk: BAD <checksum> ..."
 *     (<us>: microseconds of steps 1-4 by the guest's CLOCK_MONOTONIC; under vmrun's virtual clock
 *     that is thousandths of the guest instructions retired, kernel included);
 *  5. powers the machine off with reboot(2), or restarts it when an argument "restart" reached
 *     init (kernel command line "... -- restart"), as images/linux/init.asm does.
 *
 * An argument "skip" (command line "... -- restart skip") leaves out steps 1-4 and prints
 * "paging-walk: skipped": the same boot without the workload, the baseline from which bench/run.js
 * separates the workload's own instructions and time.
 *
 * The result is deterministic: it depends on nothing but the constants below.
 */

typedef unsigned int u32;

#define WORDS   (4u << 20)   /* 16 MiB of 32-bit words */
#define PASSES  8u
#define STEPS   (1u << 20)   /* random accesses per pass */
#define SEED    0x2545f491u
#define CHECKSUM 0x9d62aa47u /* bench/paging-walk-expected.mjs */

#define SYS_WRITE 4
#define SYS_REBOOT 88
#define SYS_OLD_MMAP 90
#define SYS_PAUSE 29
#define SYS_CLOCK_GETTIME 265 /* the 32-bit time_t one (CONFIG_COMPAT_32BIT_TIME) */
#define CLOCK_MONOTONIC 1

static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
  return r;
}

static u32 len(const char *s) {
  u32 n = 0;
  while (s[n]) n++;
  return n;
}

static void put(const char *s) { sys3(SYS_WRITE, 1, (long)s, len(s)); }

static void put_hex(u32 v) {
  char b[9];
  for (int k = 7; k >= 0; k--) { b[k] = "0123456789abcdef"[v & 15]; v >>= 4; }
  b[8] = 0;
  put(b);
}

static void put_dec(u32 v) {
  char b[11];
  int k = 10;
  b[k] = 0;
  do { b[--k] = (char)('0' + v % 10); v /= 10; } while (v != 0);
  put(b + k);
}

static int same(const char *a, const char *b) {
  while (*a && *a == *b) { a++; b++; }
  return *a == *b;
}

static u32 now_us(void) {
  long ts[2] = { 0, 0 }; /* struct old_timespec32 */
  sys3(SYS_CLOCK_GETTIME, CLOCK_MONOTONIC, (long)ts, 0);
  return (u32)ts[0] * 1000000u + (u32)ts[1] / 1000u;
}

static inline u32 xorshift32(u32 x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

static inline u32 rotl5(u32 x) { return (x << 5) | (x >> 27); }

/* Steps 1-4; 0 if the mapping failed. */
static u32 walk(u32 *bad) {
  long args[6] = { 0, WORDS * 4, 3 /* PROT_READ|WRITE */, 0x22 /* MAP_PRIVATE|ANONYMOUS */, -1, 0 };
  long p = sys3(SYS_OLD_MMAP, (long)args, 0, 0);
  if ((unsigned long)p >= (unsigned long)-4095) { *bad = 1; return (u32)-p; }
  volatile u32 *buf = (volatile u32 *)p;
  u32 x = SEED;
  for (u32 i = 0; i < WORDS; i++) { x = xorshift32(x); buf[i] = x; }
  u32 sum = 0;
  for (u32 pass = 0; pass < PASSES; pass++) {
    for (u32 k = 0; k < STEPS; k++) {
      x = xorshift32(x);
      u32 i = x & (WORDS - 1);
      u32 v = buf[i];
      sum = rotl5(sum) ^ v;
      buf[i] = v + sum;
    }
  }
  for (u32 i = 0; i < WORDS; i++) sum = rotl5(sum) ^ buf[i];
  *bad = sum != CHECKSUM;
  return sum;
}

__attribute__((used)) static void start(long *sp) {
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  int restart = 0, skip = 0;
  for (int k = 1; k < argc; k++) {
    if (same(argv[k], "restart")) restart = 1;
    if (same(argv[k], "skip")) skip = 1;
  }
  if (skip) {
    put("paging-walk: skipped\n");
  } else {
    put("paging-walk: 16 MiB, 8 passes of 1 Mi random read-modify-writes\n");
    u32 t0 = now_us(), bad = 0;
    u32 sum = walk(&bad);
    u32 t1 = now_us();
    put(bad ? "paging-walk: BAD " : "paging-walk: ok ");
    put_hex(sum);
    if (bad) { put(" (expected "); put_hex(CHECKSUM); put(")"); }
    put(" in ");
    put_dec(t1 - t0);
    put(" us\n");
  }
  sys3(SYS_REBOOT, (long)0xfee1dead, 0x28121969, restart ? 0x01234567 : 0x4321fedc);
  put("paging-walk: reboot(2) returned\n");
  for (;;) sys3(SYS_PAUSE, 0, 0, 0); /* init must not exit */
}

/* The kernel enters with [esp] = argc, then argv[], NULL, envp[]. */
__asm__(".globl _start\n_start:\n\tmovl %esp, %eax\n\tandl $-16, %esp\n\tpushl %eax\n\tcall start\n\thlt\n");
