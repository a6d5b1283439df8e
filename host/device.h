/* device.h -- the only door from plain C into the CUDA runtime (tests, CLI, model code).
   Without GLINER_HAVE_CUDA every function is still defined: gl_device_count() returns 0 and the
   rest fail with a CHECK, so callers must test gl_device_count() first. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int  gl_device_count(void);                  /* 0 when built without CUDA or no device/driver */
int  gl_device_name(int dev, char* buf, size_t len); /* 0 ok */
int  gl_device_cc(int dev);                  /* compute capability as 10*major + minor (90: sm_90), -1 none */
void gl_cuda_versions(int* runtime, int* driver);    /* -1 when not built with CUDA */

void* gl_dev_malloc(size_t bytes);
void  gl_dev_free(void* p);
void  gl_dev_upload(void* dst, const void* src, size_t bytes);
void  gl_dev_download(void* dst, const void* src, size_t bytes);
void  gl_dev_memset(void* dst, int value, size_t bytes);
void  gl_dev_sync(void);
void  gl_dev_set(int dev);                   /* cudaSetDevice: the calling thread's current device (a worker
                                               thread starts on device 0); a no-op without CUDA */
int   gl_dev_mem_info(int dev, size_t* free_bytes, size_t* total_bytes); /* cudaMemGetInfo; -1 without a device */
/* timing events (GLINER_DDP_TRACE): one recorded on `stream` (a gl_stream_t; NULL: the legacy default stream), the
   milliseconds between two (waits for b), freed */
void* gl_dev_event_record(void* stream);
float gl_dev_event_ms(void* a, void* b);
void  gl_dev_event_free(void* e);
/* The CUDA backend's stream on device dev (a cudaStream_t): every op of that device's tables runs there, in order.
   NULL before the device's first table was made (backend_cuda*), and without CUDA. The NCCL communicator
   (kernels/cuda/comm_nccl.cu) starts its collectives after this stream's work and puts the stream after their end. */
void* gl_cuda_compute_stream(int dev);

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
void gl_cuda_lib_versions(char* buf, size_t len); /* "cublasLt N, cudnn N, nccl N" or "none" */
#ifdef __cplusplus
}
#endif
