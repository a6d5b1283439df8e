/* device_none.c -- host/device.h for builds without CUDA: no devices, and any use is a bug. */
#ifndef GLINER_HAVE_CUDA
#include "device.h"

#include <stdio.h>

#include "check.h"

int  gl_device_count(void) { return 0; }
int  gl_device_name(int dev, char* buf, size_t len) { (void)dev; snprintf(buf, len, "none"); return -1; }
int  gl_device_cc(int dev) { (void)dev; return -1; }
void gl_cuda_versions(int* runtime, int* driver) { *runtime = *driver = -1; }
void* gl_dev_malloc(size_t bytes) { (void)bytes; CHECK(0, "built without CUDA"); }
void gl_dev_free(void* p) { (void)p; }
void gl_dev_upload(void* d, const void* s, size_t n) { (void)d; (void)s; (void)n; CHECK(0, "built without CUDA"); }
void gl_dev_download(void* d, const void* s, size_t n) { (void)d; (void)s; (void)n; CHECK(0, "built without CUDA"); }
void gl_dev_memset(void* d, int v, size_t n) { (void)d; (void)v; (void)n; CHECK(0, "built without CUDA"); }
void gl_dev_sync(void) {}
void gl_dev_set(int dev) { (void)dev; }
int  gl_dev_mem_info(int dev, size_t* f, size_t* t) { (void)dev; *f = *t = 0; return -1; }
void* gl_cuda_compute_stream(int dev) { (void)dev; return NULL; }
void gl_cuda_lib_versions(char* buf, size_t len) { snprintf(buf, len, "none (built without CUDA)"); }
void* gl_dev_event_record(void* stream) { (void)stream; CHECK(0, "built without CUDA"); }
float gl_dev_event_ms(void* a, void* b) { (void)a; (void)b; CHECK(0, "built without CUDA"); }
void gl_dev_event_free(void* e) { (void)e; }
#else
typedef int device_none_unused;
#endif
