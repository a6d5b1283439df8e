/* data.h -- the reference's NER / relex training data (spec §11.1, §11.2): a JSON list of
     {"tokenized_text": ["w0", "w1", ...],
      "ner": [[start, end, "label"], ...],          word indices, 0-based, end inclusive
      "ner_negatives": [...], "ner_labels": [...],  optional (uni-encoder class sampling, §2.9)
      "ner_label": [...],                           optional (bi-encoder override, quirk 32)
      "relations": [[head, tail, "type"], ...],     optional (relex; indices into "ner" as given)
      "rel_labels": [...], "rel_negatives": [...]}  optional
   Also accepted: JSON Lines / concatenated objects (a file whose first character is '{').

   The reference (train.py) json.load()s the file and indexes records with no validation: a record without
   "tokenized_text" or "ner" raises KeyError in the collator, one with a malformed entity a TypeError or
   ValueError there. It skips nothing. So here every malformed record is an error, found at load time and
   named: "PATH: record 12 (byte 3456): ner[2]: expected [start, end, label] with integer 0 <= start <= end,
   found [5, 3, \"person\"]". What the reference accepts and later ignores is accepted here too: entities
   past the text or past max_len, labels outside the class map, keys it does not read (counted in
   n_unknown_keys), empty texts (they become one "[PAD]" word in the collator, see labels.h).
   Stricter than the reference (it would crash or silently mis-index): negative indices and start > end
   (Python negative indexing), non-integer indices, booleans as indices (True == 1 in Python), non-string
   words or labels, invalid UTF-8. Duplicate keys: the last one wins (Python's json).

   Memory: the file is mapped and cut into records by a bracket scanner; each record alone goes through
   cJSON and is copied into compact storage (words and arrays in large blocks, labels interned once), so
   peak memory is the file + the compact copy + one record's tree. train_data_stream gives each record to a
   callback without keeping any. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "../io/strintern.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t     start, end;   /* ner: word indices (inclusive); relations: entity indices into ner as given */
    const char* label;        /* interned: equal labels share one pointer within a TrainData */
} TrainSpan;

typedef struct {
    int          n_words;
    const char** words;             /* tokenized_text */
    int          n_ner;
    TrainSpan*   ner;
    /* optional keys: n_* = -1 when the key is absent (present-but-empty differs from absent) */
    int          n_ner_negatives, n_ner_labels, n_ner_label;
    const char** ner_negatives;
    const char** ner_labels;
    const char** ner_label;
    int          n_relations, n_rel_labels, n_rel_negatives;
    TrainSpan*   relations;
    const char** rel_labels;
    const char** rel_negatives;
} TrainExample;

typedef struct TdBlock TdBlock;
typedef struct {
    char*         src_name;
    size_t        n, cap;
    TrainExample* ex;
    size_t        n_unknown_keys;   /* record keys the reference does not read (ignored) */
    size_t        n_entities;       /* over all records */
    /* storage */
    TdBlock*      blocks;
    StrIntern     intern;           /* the interned label strings */
} TrainData;

/* Whole file. 0 or -1 (err filled, td zeroed). */
int  train_data_load(TrainData* td, const char* path, char* err, size_t errlen);
/* text need not be NUL-terminated; name is used in messages (NULL -> "<string>") */
int  train_data_load_string(TrainData* td, const char* text, size_t len, const char* name, char* err, size_t errlen);
/* From an already parsed JSON list (e.g. a fixture's "train.examples"). */
int  train_data_from_cjson(TrainData* td, const cJSON* list, const char* name, char* err, size_t errlen);
void train_data_free(TrainData* td);

/* Streaming: fn gets each validated record (index, example valid only during the call); fn returning
   non-zero stops the scan (train_data_stream then returns that value). Returns 0, -1 (err) or fn's value. */
typedef int (*TrainRecordFn)(void* ctx, size_t index, const TrainExample* ex);
int  train_data_stream(const char* text, size_t len, const char* name, TrainRecordFn fn, void* ctx, char* err,
                       size_t errlen);

#ifdef __cplusplus
}
#endif
