/* json_pos.h -- where in a JSON text a value sits, for file:line:column errors.
   cJSON gives no positions, so after a successful parse we re-scan the text (already known
   to be valid JSON) to locate the value of an object path such as {"encoder_config","hidden_size"}. */
#pragma once
#include <stddef.h>

#include <cjson/cJSON.h>

/* byte offset -> 1-based line and column (columns count bytes, as compilers do) */
void json_offset_to_linecol(const char* text, size_t offset, int* line, int* col);

/* Finds the value of path[0..depth-1] (object keys) in text. Returns 0 and fills line/col
   (1-based) when found, -1 otherwise. With depth == 0 returns the top-level value position. */
int json_locate(const char* text, size_t len, const char* const* path, int depth, int* line, int* col);

/* a short rendering of a JSON value for error messages: its compact text, cut to 60 bytes ("nothing" for NULL) */
void json_describe(const cJSON* v, char* out, size_t n);
