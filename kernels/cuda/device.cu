/* device.cu -- CUDA side of host/device.h: device discovery and plain memory helpers. */
#include "../../host/device.h"
#include "common.cuh"

extern "C" int gl_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) { cudaGetLastError(); return 0; }
    return n;
}

extern "C" int gl_device_name(int dev, char* buf, size_t len) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, dev) != cudaSuccess) { cudaGetLastError(); return -1; }
    snprintf(buf, len, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor, p.totalGlobalMem / 1073741824.0);
    return 0;
}

extern "C" int gl_device_cc(int dev) {
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
        cudaGetLastError();
        return -1;
    }
    return 10 * major + minor;
}

extern "C" void gl_cuda_versions(int* runtime, int* driver) {
    *runtime = *driver = -1;
    cudaRuntimeGetVersion(runtime);
    cudaDriverGetVersion(driver);
    cudaGetLastError();
}

extern "C" void* gl_dev_malloc(size_t bytes) { void* p = NULL; CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1)); return p; }
extern "C" void  gl_dev_free(void* p) { if (p) CUDA_CHECK(cudaFree(p)); }
extern "C" void  gl_dev_upload(void* d, const void* s, size_t n) { CUDA_CHECK(cudaMemcpy(d, s, n, cudaMemcpyHostToDevice)); }
extern "C" void  gl_dev_download(void* d, const void* s, size_t n) { CUDA_CHECK(cudaMemcpy(d, s, n, cudaMemcpyDeviceToHost)); }
extern "C" void  gl_dev_memset(void* d, int v, size_t n) { CUDA_CHECK(cudaMemset(d, v, n)); }
extern "C" void  gl_dev_sync(void) { CUDA_CHECK(cudaDeviceSynchronize()); }
extern "C" void  gl_dev_set(int dev) { CUDA_CHECK(cudaSetDevice(dev)); }
extern "C" int gl_dev_mem_info(int dev, size_t* f, size_t* t) {
    *f = *t = 0;
    int cur = 0;
    if (cudaGetDevice(&cur) != cudaSuccess || cudaSetDevice(dev) != cudaSuccess) { cudaGetLastError(); return -1; }
    const cudaError_t e = cudaMemGetInfo(f, t);
    cudaSetDevice(cur);
    if (e != cudaSuccess) { cudaGetLastError(); return -1; }
    return 0;
}

extern "C" void* gl_dev_event_record(void* stream) {
    cudaEvent_t e;
    CUDA_CHECK(cudaEventCreate(&e));
    CUDA_CHECK(cudaEventRecord(e, (cudaStream_t)stream));
    return (void*)e;
}
extern "C" float gl_dev_event_ms(void* a, void* b) {
    CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, (cudaEvent_t)a, (cudaEvent_t)b));
    return ms;
}
extern "C" void gl_dev_event_free(void* e) {
    if (e) CUDA_CHECK(cudaEventDestroy((cudaEvent_t)e));
}
