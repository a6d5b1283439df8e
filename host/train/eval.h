/* eval.h -- the reference's NER evaluation (gliner/evaluation/, GLiNER 0.2.27):

   Scores (evaluator.py BaseNEREvaluator + utils.py), what GLiNER.evaluate() returns:
     every gold and predicted entity becomes the tuple (label, (start, end), example index); per label, the
     gold tuples and the predicted tuples are each a Python SET (duplicates count once, on both sides);
     tp = |gold & pred|, n_pred = |pred|, n_true = |gold|, summed over labels (micro average).
     precision = tp / n_pred (0 when n_pred == 0), recall = tp / n_true (0 when n_true == 0),
     f1 = 2 * (precision * recall) / (precision + recall) (0 when the sum is 0), all in float64.
     Matching is exact: same example, same start, same end (word indices, end inclusive) and the same label
     string (case-sensitive bytes). Nothing else: no flat/nested distinction here (flat_ner only changes the
     decoding that produces the predictions), overlapping or nested predictions are scored one by one.
   Data (evaluate_ner.py open_content / process / create_dataset / get_for_one_path): a directory with
   *train*.json, *dev*.json, *test*.json and *labels*.json; each split a JSON list of
       {"sentence": "...", "entities": [{"name": "...", "type": "LOC", "pos": [char_start, char_end]}, ...]}
   converted to words by Python's str.split() (runs of Unicode white space; NOT the regex word splitter of
   host/text/words.c), and each entity's code-point span to word indices by the reference's walk, which assumes
   ONE space between words: char_count starts at 0 and grows by len(word) + 1; start_word = the word whose
   char_count == char_start, end_word = the first word with char_count + len == char_end (the walk stops
   there). A boundary that falls inside a word (conll2003 "Australia" in "Australian") or anywhere the
   single-space assumption breaks gives Python None: here EVAL_NONE. Such gold entities still count in
   n_true and can never be matched. Types and labels are lower-cased with Python's str.lower() (full
   Unicode mapping: U+0130 -> "i\u0307", final sigma). "name" is not read. Entities are kept as given
   (gold beyond the model's max_len stays gold: the reference scores predictions on the truncated text
   against all of them).

   Untrusted input: a malformed file gives -1 and one line, "PATH: record 12: entities[3].pos: expected
   [char_start, char_end] with two integers >= 0, found [5]". Stricter than the reference where it would
   crash (missing keys, wrong types, a pos that is not a pair) and where it would silently never match
   (negative, fractional, boolean or non-numeric positions: errors here). Also errors: invalid UTF-8, NUL
   characters (raw or \u0000: C strings cannot hold them), raw control characters inside strings (Python's
   json rejects them too). Duplicate keys: the last one wins (Python's json). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVAL_NONE (-1) /* Python None: a char offset that maps to no word boundary */

typedef struct {
    int32_t     start, end; /* word indices, end inclusive; EVAL_NONE for None */
    const char* label;      /* compared with strcmp */
} EvalSpan;

/* ---------------------------------------------------------------- scores */

typedef struct {
    int64_t tp, n_pred, n_true; /* micro sums over labels of the per-label set sizes */
} EvalCounts;

typedef struct {
    double     precision, recall, f1;
    EvalCounts counts;
} EvalScores;

/* Adds one example (its gold and predicted spans) to c. Duplicates within gold or within pred count once
   (sets). Predictions are usually word spans from the decoder; any int32 values are accepted and compared
   as they are (EVAL_NONE in a prediction matches EVAL_NONE in gold, as None == None in Python). */
void eval_counts_add(EvalCounts* c, const EvalSpan* gold, int n_gold, const EvalSpan* pred, int n_pred);

/* compute_prf(average="micro") from the counts */
EvalScores eval_scores(const EvalCounts* c);

/* BaseNEREvaluator(all_true, all_outs).compute_prf over n examples: gold[i] has n_gold[i] spans, pred[i]
   n_pred[i] (the arrays may be NULL where the count is 0). */
EvalScores eval_prf(const EvalSpan* const* gold, const int* n_gold, const EvalSpan* const* pred, const int* n_pred,
                    size_t n);

/* BaseEvaluator.evaluate()'s string: "P: 12.34%\tR: 56.78%\tF1: 20.00%\n" (Python's {:.2%}). Returns what
   snprintf returns. */
int eval_format(char* buf, size_t len, const EvalScores* s);

/* ---------------------------------------------------------------- data */

typedef struct {
    int          n_words;
    const char** words;   /* sentence.split() */
    int          n_ents;
    EvalSpan*    ents;    /* in file order, labels lower-cased */
} EvalExample;

typedef struct EvalBlock EvalBlock;
typedef struct {
    char*        src_name;
    size_t       n;
    EvalExample* ex;
    size_t       n_entities;
    size_t       n_unaligned; /* entities with start or end EVAL_NONE (never matchable) */
    EvalBlock*   blocks;      /* storage */
} EvalData;

/* One split file (a JSON list of {"sentence", "entities"}). 0, or -1 with err (d then holds nothing). */
int  eval_data_load(EvalData* d, const char* path, char* err, size_t errlen);
/* The same from memory (text need not be NUL-terminated); name is used in messages (NULL: "<string>"). */
int  eval_data_load_string(EvalData* d, const char* text, size_t len, const char* name, char* err, size_t errlen);
void eval_data_free(EvalData* d);

typedef struct {
    int    n;
    char** names; /* lower-cased, in file order, duplicates kept (as the reference) */
} EvalLabels;

/* labels.json: a JSON list of strings. 0 or -1 (err). */
int  eval_labels_load(EvalLabels* l, const char* path, char* err, size_t errlen);
int  eval_labels_load_string(EvalLabels* l, const char* text, size_t len, const char* name, char* err, size_t errlen);
void eval_labels_free(EvalLabels* l);

/* open_content: the files of a dataset directory by the reference's rule, in its if/elif order: a *.json
   whose name contains "train" is the train split, else "dev", else "test", else "labels". (The reference
   tests the whole path, so a directory whose path contains one of these words misfiles everything; here
   only the file name counts.) Two files for one role: -1 (the reference would take whichever glob lists
   last). A role with no file: "" in its path. */
typedef struct {
    char train[4096], dev[4096], test[4096], labels[4096];
} EvalFiles;
int eval_dataset_files(EvalFiles* f, const char* dir, char* err, size_t errlen);

/* get_for_one_path's choice: flat_ner = 0 when the dataset name (the path's last '/'-separated part, ""
   after a trailing '/') contains "ACE", "GENIA" or "Corpus", else 1. */
int eval_dataset_flat_ner(const char* dir);

/* get_for_one_path's data: DIR's test split and labels (both required). 0 or -1 (err). */
int eval_dataset_load_test(const char* dir, EvalData* test, EvalLabels* labels, int* flat_ner, char* err,
                           size_t errlen);

/* Python's str.lower() of a UTF-8 string (malloc'd). NULL on invalid UTF-8. */
char* eval_py_lower(const char* s);

#ifdef __cplusplus
}
#endif
