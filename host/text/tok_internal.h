/* tok_internal.h -- the pieces shared by the tokenizer files (not a public API):
   byte buffers and piece lists, UTF-8 and Unicode-property helpers with the exact definitions the
   HF `tokenizers` crate uses, a string->id hash, a byte trie, the small regex subset that
   Replace / Split patterns may use, and the component structs that tokenizer.c fills from JSON.
   Every string handled here is valid UTF-8 (checked on input and at load), may contain NUL and
   is passed as pointer + length. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "io/strmap.h"
#include "text/tokenizer.h"

/* ------------------------------------------------------------------ buffers */
typedef struct {
    char*  p;
    size_t n, cap;
} StrBuf;

void sb_put(StrBuf* b, const char* s, size_t n);
void sb_putc(StrBuf* b, int32_t cp); /* UTF-8 encode one code point */
void sb_free(StrBuf* b);

/* A piece of text inside a PieceList's buffer. id >= 0 marks an already-decided token (an added
   token); first says the piece starts at original offset 0 of the sequence (Metaspace "first"). */
typedef struct {
    size_t  off, len;
    int32_t id;
    uint8_t first;
} Piece;

typedef struct {
    StrBuf text;
    Piece* v;
    int    n, cap;
} PieceList;

void pl_add(PieceList* l, const char* s, size_t n, int32_t id, int first); /* copies s; empty text is dropped */
void pl_reset(PieceList* l);
void pl_free(PieceList* l);

/* ------------------------------------------------------------------ UTF-8 + Unicode */
int     u8_len(uint8_t lead);                              /* length of a valid sequence from its lead byte */
int32_t u8_get(const char* s, size_t n, size_t i, int* len); /* decode at i (valid input assumed) */
size_t  u8_prev(const char* s, size_t i);                  /* start of the char before i */
long    u8_invalid_at(const char* s, size_t n);            /* -1 if valid UTF-8 (no surrogates), else byte offset */

int uc_white_space(int32_t c);   /* Unicode White_Space (Rust char::is_whitespace, regex \s, onig \s) */
int uc_alphabetic(int32_t c);    /* ~Unicode Alphabetic */
int uc_numeric(int32_t c);       /* Nd Nl No (Rust char::is_numeric) */
int uc_alphanumeric(int32_t c);  /* Rust char::is_alphanumeric */
int uc_punctuation(int32_t c);   /* BERT: ASCII punctuation or P* (the crate's tables) */
int uc_mark(int32_t c);          /* Mn Mc Me */
int uc_category(int32_t c);      /* utf8proc category */
/* where the crate uses its own, older tables (unicode_categories, unicode-normalization-alignments) */
int     hf_clean_removed(int32_t c); /* BertNormalizer clean_text drops it (NUL, U+FFFD, Cc Cf Co) */
int     hf_bert_mn(int32_t c);       /* BertNormalizer strip_accents drops it (Mn) */
int     hf_mark(int32_t c);          /* StripAccents drops it (M*) */
int     hf_no_decomp(int32_t c);     /* NFx leaves it alone although utf8proc would not */
int32_t hf_lower(int32_t c);         /* Rust char::to_lowercase, single-char part */

/* ------------------------------------------------------------------ string -> int32 hash: io/strmap.h */

/* (a, b) id pair -> (rank, new id), for BPE merges */
typedef struct {
    uint64_t* key; /* UINT64_MAX = empty */
    int32_t * rank, *nid;
    size_t    cap, n;
} PairMap;

void pm_init(PairMap* m, size_t expected);
void pm_put(PairMap* m, int32_t a, int32_t b, int32_t rank, int32_t nid);
int  pm_get(const PairMap* m, int32_t a, int32_t b, int32_t* rank, int32_t* nid); /* 1 if found */
void pm_free(PairMap* m);

/* ------------------------------------------------------------------ byte trie */
/* Built with trie_insert, then trie_finish flattens each node's children into a sorted edge
   array (binary search; the root has a direct 256 table). value < 0 = no key ends here. */
typedef struct {
    /* build state */
    int32_t *b_child, *b_sib;
    uint8_t* b_label;
    /* final */
    int32_t* value;
    int32_t* edge_start; /* n_nodes + 1 */
    uint8_t* edge_label;
    int32_t* edge_child;
    int32_t  root_next[256];
    int      n_nodes, cap;
} Trie;

void    trie_init(Trie* t);
void    trie_insert(Trie* t, const char* key, size_t n, int32_t value); /* overwrites */
void    trie_insert_sorted(Trie* t, const char* const* keys, const uint32_t* lens, int n); /* keys[i] -> i, fast */
void    trie_finish(Trie* t);
int32_t trie_step(const Trie* t, int32_t node, uint8_t c); /* -1 if no edge */
void    trie_free(Trie* t);

/* ------------------------------------------------------------------ patterns (Replace / Split) */
typedef struct TokRegex TokRegex;

/* Compiles the supported subset (literals, ., classes, \s\d\w\p{..} and negations, escapes,
   * + ? {m} {m,} {m,n}, top-level |), onig semantics (leftmost-first). -1 with err otherwise. */
int  rx_compile(TokRegex** out, const char* pat, size_t n, char* err, size_t errlen);
void rx_free(TokRegex* r);

typedef struct {
    int       is_regex;
    char*     lit;
    size_t    lit_len;
    TokRegex* re;
} TokPattern;

/* matches as HF's Pattern::find_matches: segments covering s, each flagged match or not */
typedef struct {
    size_t s, e;
    int    m;
} Seg;
typedef struct {
    Seg* v;
    int  n, cap;
} SegList;
void seg_add(SegList* l, size_t s, size_t e, int m);

/* out is reset, then filled with the non-overlapping matches of p and the gaps between them */
void pat_segments(const TokPattern* p, const char* s, size_t n, SegList* out);
void pat_free(TokPattern* p);

typedef enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS } SplitBehavior;

/* NormalizedString::split: applies behavior to the segments of piece (s, n) and appends the
   non-empty results to out; only a result starting at offset 0 inherits first. */
void split_apply(PieceList* out, const char* s, size_t n, int first, SegList* segs, SplitBehavior b);

/* ------------------------------------------------------------------ normalizers */
typedef enum {
    NORM_SEQUENCE, NORM_STRIP, NORM_PRECOMPILED, NORM_REPLACE, NORM_BERT, NORM_LOWERCASE, NORM_NFC, NORM_NFD,
    NORM_NFKC, NORM_NFKD, NORM_STRIP_ACCENTS, NORM_PREPEND, NORM_NMT, NORM_BYTELEVEL
} NormType;

typedef struct Normalizer {
    NormType           type;
    struct Normalizer* sub;
    int                n_sub;
    int                strip_left, strip_right;                        /* Strip */
    uint32_t*          da;                                             /* Precompiled: darts-clone units */
    size_t             n_da;
    char*              pool; /* Precompiled: replacement strings (NUL separated) */
    size_t             n_pool;
    TokPattern         pat; /* Replace */
    char*              content; /* Replace content / Prepend text */
    size_t             content_len;
    int                clean_text, chinese, strip_accents, lowercase; /* BertNormalizer */
} Normalizer;

/* in -> out (out is overwritten). *lead is cleared when the first original char was deleted
   (so the result no longer starts at the piece's original offset). */
void norm_apply(const Normalizer* nm, const char* in, size_t n, StrBuf* out, int* lead);
void norm_free(Normalizer* nm);

/* ------------------------------------------------------------------ pre-tokenizers */
typedef enum {
    PRE_SEQUENCE, PRE_METASPACE, PRE_BERT, PRE_BYTELEVEL, PRE_WHITESPACE, PRE_WHITESPACE_SPLIT,
    PRE_PUNCTUATION, PRE_DIGITS, PRE_SPLIT, PRE_CHAR_DELIM
} PreType;

typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } PrependScheme;

typedef struct PreTokenizer {
    PreType              type;
    struct PreTokenizer* sub;
    int                  n_sub;
    int32_t              replacement; /* Metaspace */
    PrependScheme        prepend;
    int                  split;
    int                  add_prefix_space, use_regex; /* ByteLevel */
    int                  individual_digits;           /* Digits */
    SplitBehavior        behavior;                    /* Punctuation, Split */
    int                  invert;                      /* Split */
    TokPattern           pat;                         /* Split */
    int32_t              delim;                       /* CharDelimiterSplit */
} PreTokenizer;

/* in -> out: every piece of in with id < 0 is pre-tokenized, decided pieces pass through */
void pre_apply(const PreTokenizer* pt, const PieceList* in, PieceList* out);
void pre_free(PreTokenizer* pt);
extern const char* const BYTELEVEL_CHARS[256]; /* GPT-2 bytes_to_unicode, as UTF-8 */

/* ------------------------------------------------------------------ models */
typedef enum { MODEL_UNIGRAM, MODEL_WORDPIECE, MODEL_BPE } ModelType;

typedef struct {
    ModelType type;
    int       n_vocab;   /* distinct tokens (HF get_vocab_size) */
    int       max_id;    /* largest id + 1 */
    char**    id_tok;    /* [max_id], NULL for holes */
    uint32_t* id_len;
    StrMap    tok_id;
    /* Unigram */
    double*   scores;
    double    min_score;
    int32_t   unk_id;    /* -1 if none (Unigram) / resolved unk token id (WordPiece, BPE) */
    int       byte_fallback;
    Trie      trie;
    /* WordPiece + BPE */
    char*     unk_token; /* NULL if none */
    char*     prefix;    /* continuing_subword_prefix ("" if none) */
    size_t    prefix_len;
    int       max_chars;
    /* BPE */
    char*     suffix; /* end_of_word_suffix */
    size_t    suffix_len;
    int       fuse_unk, ignore_merges;
    PairMap   merges;
} Model;

/* Appends the ids of one pre-tokenized piece. -1 with err (e.g. no unknown token to fall back on). */
int  unigram_encode(const Model* m, const char* s, size_t n, IdVec* out, char* err, size_t errlen);
int  wordpiece_encode(const Model* m, const char* s, size_t n, IdVec* out, char* err, size_t errlen);
int  bpe_encode(const Model* m, const char* s, size_t n, IdVec* out, char* err, size_t errlen);
void model_free(Model* m);
