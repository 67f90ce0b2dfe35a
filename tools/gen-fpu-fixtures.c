/*
 * Reference results for the x87 tests, taken from the physical x87 of the machine that runs this
 * (x86-64 Linux, gcc). Each case is executed with exactly the instruction sequence the test's
 * guest program runs:
 *
 *   fninit ; fldcw [in] ; fld tword [in+12] (b) ; fld tword [in+2] (a) ; OP ;
 *   fnstsw [out+10] ; fstp tword [out] ; fstp tword [out+12]
 *
 * with OP given as raw bytes (memory forms address [rdi+22] = out+22, where store operations put
 * their memory result). All exceptions are masked by the control words used.
 *
 *   gcc -O1 -o /tmp/gen-fpu-fixtures tools/gen-fpu-fixtures.c && /tmp/gen-fpu-fixtures | gzip -9 > test/cpu/fixtures/fpu-hw.json.gz
 *
 * Output: {"cpu": "...", "ops": {name: {"bytes": "d8c1", "cases": [[inHex, outHex], ...]}}}, with
 * in = 22 bytes (cw, a, b) and out = 32 bytes (ST0 80-bit, status word, ST1 80-bit, memory result).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct { uint8_t in[22]; uint8_t out[32]; } Case;

#define SEQ(OPBYTES)                                                                               \
  __asm__ volatile("fninit\n\tfldcw (%%rsi)\n\tfldt 12(%%rsi)\n\tfldt 2(%%rsi)\n\t" OPBYTES        \
                   "\n\tfnstsw 10(%%rdi)\n\tfstpt (%%rdi)\n\tfstpt 12(%%rdi)\n\tfninit"             \
                   : : "S"(c->in), "D"(c->out) : "memory")

/* One entry per operation: name, the bytes as text for the JSON, and the asm for those bytes. */
#define OPS(X)                                                                                     \
  X(fadd, "d8c1", ".byte 0xd8,0xc1")                                                               \
  X(fsub, "d8e1", ".byte 0xd8,0xe1")                                                               \
  X(fsubr, "d8e9", ".byte 0xd8,0xe9")                                                              \
  X(fmul, "d8c9", ".byte 0xd8,0xc9")                                                               \
  X(fdiv, "d8f1", ".byte 0xd8,0xf1")                                                               \
  X(fdivr, "d8f9", ".byte 0xd8,0xf9")                                                              \
  X(faddp, "dec1", ".byte 0xde,0xc1")                                                              \
  X(fsubp, "dee9", ".byte 0xde,0xe9")                                                              \
  X(fdivrp, "def1", ".byte 0xde,0xf1")                                                             \
  X(fsqrt, "d9fa", ".byte 0xd9,0xfa")                                                              \
  X(fcom, "d8d1", ".byte 0xd8,0xd1")                                                               \
  X(fucom, "dde1", ".byte 0xdd,0xe1")                                                              \
  X(ftst, "d9e4", ".byte 0xd9,0xe4")                                                               \
  X(fxam, "d9e5", ".byte 0xd9,0xe5")                                                               \
  X(frndint, "d9fc", ".byte 0xd9,0xfc")                                                            \
  X(fscale, "d9fd", ".byte 0xd9,0xfd")                                                             \
  X(fxtract, "d9f4", ".byte 0xd9,0xf4")                                                            \
  X(fprem, "d9f8", ".byte 0xd9,0xf8")                                                              \
  X(fprem1, "d9f5", ".byte 0xd9,0xf5")                                                             \
  X(fst32, "d95716", ".byte 0xd9,0x57,0x16")                                                       \
  X(fst64, "dd5716", ".byte 0xdd,0x57,0x16")                                                       \
  X(fist16, "df5716", ".byte 0xdf,0x57,0x16")                                                      \
  X(fist32, "db5716", ".byte 0xdb,0x57,0x16")                                                      \
  X(fistp64, "df7f16", ".byte 0xdf,0x7f,0x16")                                                     \
  X(fbstp, "df7716", ".byte 0xdf,0x77,0x16")                                                       \
  X(fsin, "d9fe", ".byte 0xd9,0xfe")                                                               \
  X(fcos, "d9ff", ".byte 0xd9,0xff")                                                               \
  X(fsincos, "d9fb", ".byte 0xd9,0xfb")                                                            \
  X(fptan, "d9f2", ".byte 0xd9,0xf2")                                                              \
  X(fpatan, "d9f3", ".byte 0xd9,0xf3")                                                             \
  X(f2xm1, "d9f0", ".byte 0xd9,0xf0")                                                              \
  X(fyl2x, "d9f1", ".byte 0xd9,0xf1")                                                              \
  X(fyl2xp1, "d9f9", ".byte 0xd9,0xf9")

#define RUNFN(name, hex, bytes) static void run_##name(Case *c) { SEQ(bytes); }
OPS(RUNFN)

/* xorshift64* — deterministic operands */
static uint64_t rs = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) { rs ^= rs >> 12; rs ^= rs << 25; rs ^= rs >> 27; return rs * 2685821657736338717ULL; }
static int rndn(int n) { return (int)(rnd() % (uint64_t)n); }

static void put80(uint8_t *p, uint16_t se, uint64_t sig) { memcpy(p, &sig, 8); memcpy(p + 8, &se, 2); }

/* A random 80-bit value of a kind chosen by `mode`. */
static void gen(uint8_t *p, int mode, int near_exp) {
  uint16_t s = (uint16_t)(rndn(2) << 15);
  uint64_t sig = rnd() | 0x8000000000000000ULL;
  int e;
  int k = rndn(100);
  if (mode == 1 && k < 25) { /* specials */
    switch (rndn(14)) {
      case 0: put80(p, s, 0); return;                                   /* ±0 */
      case 1: put80(p, s | 0x7fff, 0x8000000000000000ULL); return;      /* ±inf */
      case 2: put80(p, s | 0x7fff, 0xc000000000000000ULL | (rnd() >> 3)); return; /* QNaN */
      case 3: put80(p, s | 0x7fff, 0x8000000000000000ULL | (rnd() >> 3) | 1); return; /* SNaN */
      case 4: put80(p, s, rnd() >> rndn(64)); return;                   /* denormal */
      case 5: put80(p, s | 1, 0x8000000000000000ULL); return;           /* min normal */
      case 6: put80(p, s | 0x7ffe, 0xffffffffffffffffULL); return;      /* max */
      case 7: put80(p, 0x3fff, 0x8000000000000000ULL); return;          /* 1 */
      case 8: put80(p, s | (0x3fff + rndn(8)), (uint64_t)(rndn(255) + 1) << 56); return; /* small exact */
      case 9: put80(p, s | 0x7fff, 0xc000000000000000ULL); return;      /* indefinite-like */
      case 10: put80(p, s, 0x8000000000000000ULL | (rnd() >> 2)); return; /* pseudo-denormal */
      case 11: put80(p, s | (uint16_t)(1 + rndn(0x7ffe)), rnd() & 0x7fffffffffffffffULL); return; /* unnormal */
      case 12: put80(p, s | (uint16_t)(1 + rndn(60)), sig); return;     /* near underflow */
      default: put80(p, s | (uint16_t)(0x7ffe - rndn(60)), sig); return; /* near overflow */
    }
  }
  if (near_exp >= 0) e = near_exp + rndn(5) - 2;
  else if (k < 60) e = 0x3fff + rndn(80) - 40;
  else e = 1 + rndn(0x7ffe);
  if (rndn(4) == 0) sig &= ~((1ULL << rndn(64)) - 1) | 0x8000000000000000ULL; /* short significand */
  put80(p, s | (uint16_t)e, sig);
}

static const uint16_t CWS[] = {0x037f, 0x077f, 0x0b7f, 0x0f7f, 0x027f, 0x007f, 0x0a7f, 0x047f};

static void hex(const uint8_t *p, int n) { for (int i = 0; i < n; i++) printf("%02x", p[i]); }

/* Operand constraints per operation family. */
static void make(Case *c, const char *name) {
  memset(c, 0, sizeof *c);
  uint16_t cw = CWS[rndn(8)];
  int trans = !strcmp(name, "fsin") || !strcmp(name, "fcos") || !strcmp(name, "fsincos") || !strcmp(name, "fptan") ||
              !strcmp(name, "fpatan") || !strcmp(name, "f2xm1") || !strcmp(name, "fyl2x") || !strcmp(name, "fyl2xp1");
  if (trans) cw = 0x037f | (uint16_t)(rndn(4) << 10);
  memcpy(c->in, &cw, 2);
  gen(c->in + 2, 1, -1);
  uint16_t ea; memcpy(&ea, c->in + 10, 2);
  int ae = ea & 0x7fff;
  /* b near a's exponent half of the time (cancellation, close quotients) */
  gen(c->in + 12, 1, (rndn(2) && ae > 3 && ae < 0x7ffb) ? ae : -1);
  if (!strcmp(name, "fscale")) { /* b: a modest scale */
    int v = rndn(200) - 100; if (rndn(4) == 0) v = rndn(40000) - 20000;
    long double d = v + (rndn(2) ? 0.5L : 0); memcpy(c->in + 12, &d, 10);
  }
  if (!strcmp(name, "fprem") || !strcmp(name, "fprem1")) { /* exponent difference mostly below 64 */
    if (rndn(4)) { uint16_t se; memcpy(&se, c->in + 2, 2); int e = (se & 0x7fff); if (e > 100 && e < 0x7f00) { uint16_t sb = (uint16_t)((rndn(2) << 15) | (e - rndn(70))); memcpy(c->in + 20, &sb, 2); uint64_t m = rnd() | 0x8000000000000000ULL; memcpy(c->in + 12, &m, 8); } }
  }
  if (trans) {
    /* a: moderate magnitudes (hardware reduces with a 66-bit π; keep to where that is exact enough) */
    long double lim = !strcmp(name, "f2xm1") ? 1.0L : !strcmp(name, "fyl2xp1") ? 0.29L : 0.78L;
    long double a = (long double)(rnd() >> 11) / 9007199254740992.0L * lim;
    if (rndn(3) == 0) a = a / (long double)(1ULL << rndn(60));
    if (rndn(2)) a = -a;
    if (!strcmp(name, "fyl2x")) { a = a < 0 ? -a : a; a = a * (long double)(1ULL << rndn(40)) + 1e-30L; if (rndn(2)) a = 1 / a; }
    if (rndn(12) == 0) { /* keep some specials */ } else memcpy(c->in + 2, &a, 10);
    if (strcmp(name, "fpatan") && strcmp(name, "fyl2x") && strcmp(name, "fyl2xp1")) { long double b = 1.0L; memcpy(c->in + 12, &b, 10); }
    else if (rndn(6)) { long double b = (long double)(rnd() >> 11) / 9007199254740992.0L * 10 - 5; memcpy(c->in + 12, &b, 10); }
  }
}

int main(void) {
  printf("{\n\"generator\": \"tools/gen-fpu-fixtures.c\",\n");
  FILE *ci = fopen("/proc/cpuinfo", "r");
  char line[256], model[200] = "unknown";
  while (ci && fgets(line, sizeof line, ci)) {
    if (!strncmp(line, "model name", 10)) { char *q = strchr(line, ':'); if (q) { snprintf(model, sizeof model, "%s", q + 2); model[strcspn(model, "\n")] = 0; } break; }
  }
  if (ci) fclose(ci);
  printf("\"cpu\": \"%s\",\n\"ops\": {\n", model);
  int first = 1;
  Case c;
  const int N = 300;
#define EMIT(name, hexs, bytes)                                                                    \
  printf("%s\"%s\": {\"bytes\": \"%s\", \"cases\": [\n", first ? "" : ",\n", #name, hexs); first = 0; \
  for (int i = 0; i < N; i++) {                                                                    \
    make(&c, #name); run_##name(&c);                                                               \
    printf("%s[\"", i ? ",\n" : ""); hex(c.in, 22); printf("\", \""); hex(c.out, 32); printf("\"]"); \
  }                                                                                                \
  printf("]}");
  OPS(EMIT)
  printf("\n}\n}\n");
  return 0;
}
