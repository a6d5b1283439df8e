/* version.c -- `gliner version`: version and the backends compiled in. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "comm.h"
#include "device.h"
#include "io/hub.h"

int cli_version(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: gliner version\n  the version, and the backends and CUDA libraries this build has\n");
            return 0;
        }
        fprintf(stderr, "gliner version: unexpected argument '%s' (usage: gliner version)\n", argv[i]);
        return 2;
    }
    char libs[256];
    gl_cuda_lib_versions(libs, sizeof libs);
    printf("gliner %s\n", GLINER_VERSION);
    printf("cpu backend: fp32, OpenBLAS\n");
#ifdef GLINER_HAVE_CUDA
    int rt, drv;
    gl_cuda_versions(&rt, &drv);
    printf("cuda backend: built (runtime %d, driver %d; %s); devices: %d\n", rt, drv, libs, gl_device_count());
#else
    printf("cuda backend: not built\n");
#endif
    printf("hub downloads: %s\n", hub_can_download() ? "libcurl" : "no (built without libcurl; the HF cache still works)");
    char dp[256];
    printf("data-parallel training: %s\n", comm_describe(dp, sizeof dp));
    return 0;
}
