// Kernel-level anchor: llama.cpp's own CPU dot products (the v0.5.0 build shipped in
// @node-llama-cpp/linux-x64@3.22.1) at the 2B4T shapes, timed like kernels_bench.ts (best of several runs).
// Not part of the library or the tests; used for the numbers in kernels-wasm/README.md.
//
//   gcc -O2 kernels-wasm/tools/ggml_anchor.c -o /tmp/ggml_anchor -ldl -lpthread
//   NTH=1 /tmp/ggml_anchor <bins>/linux-x64/libggml-cpu-zen4.so
//
// It calls ggml_get_type_traits_cpu(type)->vec_dot once per (row, token) pair, as ggml's mul_mat does for
// TQ2_0/TQ1_0/F16 (no repacked GEMM exists for these types), with activations quantized by the type's
// vec_dot_type from_float (Q8_K, F16). NTH splits the rows over pthreads.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
typedef void (*vec_dot_t)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);
typedef void (*from_float_t)(const float *x, void *y, int64_t k);
struct traits { from_float_t from_float; vec_dot_t vec_dot; int vec_dot_type; int64_t nrows; };
struct job { vec_dot_t f; int K, o0, o1, ntok, nout; float *y; uint8_t *w; size_t rb; uint8_t *q; size_t rowq; };
static void *work(void *p){ struct job *j=p; for(int o=j->o0;o<j->o1;o++) for(int t=0;t<j->ntok;t++) j->f(j->K, j->y+t*j->nout+o, 0, j->w+o*j->rb, 0, j->q+t*j->rowq, 0, 1); return 0; }
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc, char **argv){
  void *h = dlopen(argv[1], RTLD_NOW|RTLD_GLOBAL); if(!h){printf("%s\n",dlerror());return 1;}
  void (*init)(void) = dlsym(h,"ggml_cpu_init"); init();
  const struct traits *(*get)(int) = dlsym(h,"ggml_get_type_traits_cpu");
  struct { int type; int bs; int ts; const char *name; } T[] = {{35,256,66,"tq2_0"},{34,256,54,"tq1_0"},{1,1,2,"f16"}};
  for (int ti=0; ti<3; ti++){
    const struct traits *tr = get(T[ti].type); const struct traits *yt = get(tr->vec_dot_type);
    int shapes[3][3] = {{6912,2560,1},{2560,6912,1},{6912,2560,128}};
    if (T[ti].type==1) { shapes[0][0]=128256; shapes[0][1]=2560; }
    for (int si=0; si< (T[ti].type==1?1:3); si++){
      int nout=shapes[si][0], K=shapes[si][1], ntok=shapes[si][2];
      size_t wb = (size_t)nout*K/T[ti].bs*T[ti].ts; uint8_t *w = malloc(wb); for(size_t i=0;i<wb;i++) w[i]=(i*2654435761u)>>24;
      if (T[ti].type==1) { uint16_t *u=(uint16_t*)w; for(size_t i=0;i<wb/2;i++) u[i]=0x2000+((i*2654435761u)>>20)%0x1800; }
      else for(size_t b=0;b<wb/T[ti].ts;b++){ uint16_t d=0x2e66; memcpy(w+b*T[ti].ts+T[ti].ts-2,&d,2);} 
      float *x = malloc(sizeof(float)*K*ntok); for(int i=0;i<K*ntok;i++) x[i]=(float)((i*37)%101-50)/25.0f;
      size_t rowq = (T[ti].type==1)? K*2 : (size_t)K/256*292; uint8_t *q = malloc(rowq*ntok);
      for(int t=0;t<ntok;t++) yt->from_float(x+t*K, q+t*rowq, K);
      float *y = malloc(sizeof(float)*nout*ntok); size_t rb = (size_t)K/T[ti].bs*T[ti].ts;
      double best=1e9;
      for(int r=0;r<(ntok>1?3:10);r++){ double t0=now();
        int nth = atoi(getenv("NTH") ? getenv("NTH") : "1"); pthread_t th[8]; struct job jb[8];
        for(int i=0;i<nth;i++){ jb[i]=(struct job){tr->vec_dot,K,nout*i/nth,nout*(i+1)/nth,ntok,nout,y,w,rb,q,rowq}; pthread_create(&th[i],0,work,&jb[i]); }
        for(int i=0;i<nth;i++) pthread_join(th[i],0);
        double dt=now()-t0; if(dt<best)best=dt; }
      printf("llama.cpp vec_dot %-6s %5dx%-5d ntok %3d: %8.3f ms  %6.1f G MAC/s  %5.1f GB/s (%d threads)\n", T[ti].name, nout, K, ntok, best*1e3, (double)nout*K*ntok/best/1e9, wb/best/1e9, atoi(getenv("NTH") ? getenv("NTH") : "1"));
    }
  }
}
