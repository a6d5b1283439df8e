/* tok_spm.h -- a reader for SentencePiece's model file (spm.model, sentencepiece_model.proto's ModelProto),
   written against the protobuf wire format directly (no protobuf library): the pieces with their scores and
   types, the trainer_spec fields a converter needs and the normalizer_spec with its precompiled charsmap.
   It is what transformers' SpmConverter reads (convert_slow_tokenizer.py); tok_convert.c turns it into the
   tokenizer.json document that converter builds.

   The file is untrusted: every varint, length and nested message is bounds-checked, fields this reader does
   not need (and unknown ones) are skipped by wire type, and an error is one line naming the file, the byte
   offset and what was expected, e.g. `m/spm.model: byte 1234: pieces[17].score: truncated fixed32`. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ModelProto.SentencePiece.Type */
enum { SPM_NORMAL = 1, SPM_UNKNOWN = 2, SPM_CONTROL = 3, SPM_USER_DEFINED = 4, SPM_UNUSED = 5, SPM_BYTE = 6 };
/* TrainerSpec.ModelType */
enum { SPM_UNIGRAM = 1, SPM_BPE = 2, SPM_WORD = 3, SPM_CHAR = 4 };

typedef struct {
    const char* piece; /* NUL-terminated, valid UTF-8, not empty (into SpmModel.pool) */
    uint32_t    len;
    float       score;
    int         type; /* SPM_NORMAL.. (default NORMAL) */
} SpmPiece;

typedef struct {
    SpmPiece* pieces;
    int       n_pieces;
    /* trainer_spec (proto defaults when absent) */
    int     model_type;    /* SPM_UNIGRAM */
    int32_t unk_id;        /* 0 */
    int     byte_fallback; /* 0 */
    const char* unk_piece; /* "<unk>" */
    /* normalizer_spec */
    const char*    norm_name;         /* "" */
    const uint8_t* charsmap;          /* precompiled_charsmap (NULL when absent or empty) */
    size_t         charsmap_len;
    int            add_dummy_prefix;  /* 1 */
    int            remove_extra_ws;   /* 1 */
    int            escape_whitespaces; /* 1 */
    char*          pool;              /* owns every string and the charsmap */
} SpmModel;

/* Parses the bytes of a model file; name is the file named in errors. 0, or -1 with err (m left empty). */
int  spm_parse(SpmModel* m, const uint8_t* buf, size_t n, const char* name, char* err, size_t errlen);
/* Reads and parses PATH (at most 1 GiB). */
int  spm_load(SpmModel* m, const char* path, char* err, size_t errlen);
void spm_free(SpmModel* m);

#ifdef __cplusplus
}
#endif
