/* log.h -- leveled logging to stderr; level from GLINER_LOG=debug|info|warn|error (default info). */
#pragma once
#include "check.h"

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } LogLevel;

#ifdef __cplusplus
extern "C" {
#endif
void     log_set_level(LogLevel level);
LogLevel log_get_level(void);
void     log_msg(LogLevel level, const char* fmt, ...) GL_PRINTF(2, 3);
#ifdef __cplusplus
}
#endif

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
