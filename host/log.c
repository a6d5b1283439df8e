/* log.c -- see log.h. The level is read once from GLINER_LOG; an unknown value is reported, not ignored. */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_level = -1;

static void log_init(void) {
    const char* s = getenv("GLINER_LOG");
    g_level = LOG_INFO;
    if (!s || !*s) return;
    if (!strcmp(s, "debug")) g_level = LOG_DEBUG;
    else if (!strcmp(s, "info")) g_level = LOG_INFO;
    else if (!strcmp(s, "warn")) g_level = LOG_WARN;
    else if (!strcmp(s, "error")) g_level = LOG_ERROR;
    else fprintf(stderr, "gliner: warning: GLINER_LOG=%s: expected debug, info, warn or error; using info\n", s);
}

void log_set_level(LogLevel level) { g_level = (int)level; }

LogLevel log_get_level(void) {
    if (g_level < 0) log_init();
    return (LogLevel)g_level;
}

void log_msg(LogLevel level, const char* fmt, ...) {
    if ((int)level < (int)log_get_level()) return;
    static const char* names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "gliner: %s: ", names[level]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
