/* json_pos.c -- a position-tracking skim over valid JSON (see json_pos.h). Bounded recursion:
   nesting deeper than 512 is reported as "not found" rather than risking the stack. */
#include "json_pos.h"

#include <stdio.h>
#include <string.h>

typedef struct { const char* s; size_t n, i; } Scan;

/* white space as cJSON skips it: every byte <= 32 (the parser we follow accepted the text) */
static void ws(Scan* sc) {
    while (sc->i < sc->n && (unsigned char)sc->s[sc->i] <= 32) sc->i++;
}

/* skips a string starting at '"'; returns start/len of its raw contents */
static int skip_string(Scan* sc, size_t* start, size_t* len) {
    if (sc->i >= sc->n || sc->s[sc->i] != '"') return -1;
    size_t b = ++sc->i;
    while (sc->i < sc->n && sc->s[sc->i] != '"') sc->i += (sc->s[sc->i] == '\\') ? 2 : 1;
    if (sc->i >= sc->n) return -1;
    if (start) *start = b;
    if (len) *len = sc->i - b;
    sc->i++;
    return 0;
}

static int skip_value(Scan* sc, int depth);

/* at a '{': if key matches path[0], leave sc->i at that value and return 1 */
static int find_in_object(Scan* sc, const char* key, int depth) {
    sc->i++; /* '{' */
    for (;;) {
        ws(sc);
        if (sc->i >= sc->n) return -1;
        if (sc->s[sc->i] == '}') { sc->i++; return 0; }
        if (sc->s[sc->i] == ',') { sc->i++; continue; }
        size_t ks, kl;
        if (skip_string(sc, &ks, &kl)) return -1;
        ws(sc);
        if (sc->i >= sc->n || sc->s[sc->i] != ':') return -1;
        sc->i++;
        ws(sc);
        if (key && kl == strlen(key) && !memcmp(sc->s + ks, key, kl)) return 1;
        if (skip_value(sc, depth + 1)) return -1;
    }
}

static int skip_value(Scan* sc, int depth) {
    if (depth > 512) return -1;
    ws(sc);
    if (sc->i >= sc->n) return -1;
    char c = sc->s[sc->i];
    if (c == '"') return skip_string(sc, NULL, NULL);
    if (c == '{') return find_in_object(sc, NULL, depth) < 0 ? -1 : 0;
    if (c == '[') {
        sc->i++;
        for (;;) {
            ws(sc);
            if (sc->i >= sc->n) return -1;
            if (sc->s[sc->i] == ']') { sc->i++; return 0; }
            if (sc->s[sc->i] == ',') { sc->i++; continue; }
            if (skip_value(sc, depth + 1)) return -1;
        }
    }
    size_t start = sc->i; /* number, true, false, null */
    while (sc->i < sc->n && (unsigned char)sc->s[sc->i] > 32 && !strchr(",}]", sc->s[sc->i])) sc->i++;
    return sc->i > start ? 0 : -1; /* no progress: not a value here (never loop) */
}

void json_offset_to_linecol(const char* text, size_t offset, int* line, int* col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < offset && text[i]; i++) {
        if (text[i] == '\n') { l++; c = 1; }
        else c++;
    }
    *line = l;
    *col = c;
}

int json_locate(const char* text, size_t len, const char* const* path, int depth, int* line, int* col) {
    Scan sc = {text, len, 0};
    ws(&sc);
    for (int d = 0; d < depth; d++) {
        if (sc.i >= sc.n || sc.s[sc.i] != '{') return -1;
        if (find_in_object(&sc, path[d], d) != 1) return -1;
    }
    json_offset_to_linecol(text, sc.i, line, col);
    return 0;
}

void json_describe(const cJSON* v, char* out, size_t n) {
    char* s = v ? cJSON_PrintUnformatted(v) : NULL;
    if (!s) {
        snprintf(out, n, "%s", v ? "?" : "nothing");
        return;
    }
    if (strlen(s) > 60) snprintf(out, n, "%.57s...", s);
    else snprintf(out, n, "%s", s);
    cJSON_free(s);
}
