/*
 * Native streaming-read bandwidth probe (bench/bandwidth.ts compiles and runs it): `threads` POSIX threads each
 * sum their contiguous share of a `mib` MiB buffer with 32-byte vector loads (GCC vector extensions, so -march=native
 * picks the widest loads the CPU has), `reps` times; one JSON line on stdout:
 * {"threads":2,"bytes":1073741824,"seconds":[...],"checksum":123}.
 * The buffer is written once before timing (every page faulted in). Start and end of a repetition are pthread
 * barriers, so a repetition's time is the slowest thread's.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef long long v4 __attribute__((vector_size(32)));

static unsigned char *buf;
static size_t share;
static int reps;
static pthread_barrier_t start_b, end_b;
static unsigned long long sums[256];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *reader(void *arg) {
  long i = (long)arg;
  const v4 *p = (const v4 *)(buf + share * i);
  size_t n = share / sizeof(v4);
  for (int r = 0; r < reps; r++) {
    pthread_barrier_wait(&start_b);
    v4 a = {0, 0, 0, 0}, b = {0, 0, 0, 0};
    for (size_t j = 0; j + 1 < n; j += 2) {
      a += p[j];
      b += p[j + 1];
    }
    a += b;
    sums[i] += (unsigned long long)(a[0] + a[1] + a[2] + a[3]);
    pthread_barrier_wait(&end_b);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: bandwidth <mib> <threads> <reps>\n");
    return 2;
  }
  size_t mib = strtoull(argv[1], 0, 10);
  int threads = atoi(argv[2]);
  reps = atoi(argv[3]);
  if (mib == 0 || threads < 1 || threads > 256 || reps < 1) {
    fprintf(stderr, "bandwidth: need mib >= 1, threads in 1..256, reps >= 1\n");
    return 2;
  }
  size_t bytes = mib << 20;
  share = bytes / threads / 64 * 64;
  bytes = share * threads;
  if (posix_memalign((void **)&buf, 64, bytes) != 0) {
    fprintf(stderr, "bandwidth: cannot allocate %zu bytes\n", bytes);
    return 1;
  }
  for (size_t i = 0; i < bytes; i++) buf[i] = (unsigned char)(i * 131 + 7);
  pthread_barrier_init(&start_b, 0, threads + 1);
  pthread_barrier_init(&end_b, 0, threads + 1);
  pthread_t th[256];
  for (long i = 0; i < threads; i++) pthread_create(&th[i], 0, reader, (void *)i);
  double *sec = calloc(reps, sizeof(double));
  for (int r = 0; r < reps; r++) {
    pthread_barrier_wait(&start_b);
    double t0 = now();
    pthread_barrier_wait(&end_b);
    sec[r] = now() - t0;
  }
  unsigned long long sum = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], 0);
    sum += sums[i];
  }
  printf("{\"threads\":%d,\"bytes\":%zu,\"seconds\":[", threads, bytes);
  for (int r = 0; r < reps; r++) printf("%s%.9f", r ? "," : "", sec[r]);
  printf("],\"checksum\":%llu}\n", sum);
  return 0;
}
