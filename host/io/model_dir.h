/* model_dir.h -- the file-system side of writing a model directory (the reference's format:
   gliner_config.json, model.safetensors, tokenizer files, labels_tokenizer/), shared by
   `gliner convert` (host/cli/convert.c) and training checkpoints (host/train/checkpoint.c).
   Both build the output in a temporary sibling directory and rename it into place (MdOut), so an output
   directory appears whole or not at all.

   MdOut follows host/io/out_file.h's rules for a directory:
   - the temporary is DIR/.NAME.tmp.<pid>.<k>, made by mkdir (exclusive: a name already taken, a planted link
     included, is skipped, never followed or removed); the files inside are created with GL_OUT_NEW (O_EXCL|
     O_NOFOLLOW);
   - what is at the final path decides: nothing: renamed into place; a real directory: an error, or with replace
     (checkpoints) moved aside to DIR/.NAME.old.<pid>.<k>, the new one renamed in, the old one removed; anything else
     (a symbolic link, a regular file, a device, a FIFO): an error naming it, never replaced;
   - temporaries (and directories moved aside) of processes that no longer run are removed when the next run
     begins the same output; an .old one whose final name is missing (a crash between the two renames) is put
     back instead. */
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Copies one regular file byte for byte into dst, which is created exclusively (GL_OUT_NEW: it must not exist, a
   link there is not followed) and fsync'ed. 0 or -1 (err names the file that failed and why). */
int md_copy_file(const char* src, const char* dst, char* err, size_t errlen);

/* Copies every regular file of src_dir whose name keep() accepts (keep == NULL: all) into dst_dir
   (which exists), then, when src_dir has a labels_tokenizer/ directory (a bi-encoder's label
   tokenizer), creates dst_dir/labels_tokenizer/ and copies every regular file of it. Symbolic links
   are followed for files (as the reference's open() would), sub-directories other than
   labels_tokenizer/ are ignored. 0 or -1. */
int md_copy_files(const char* src_dir, const char* dst_dir, int (*keep)(const char* name), char* err, size_t errlen);

/* The files a Hugging Face tokenizer's save_pretrained may write (tokenizer.json, tokenizer_config.json,
   special_tokens_map.json, added_tokens.json, vocab files: spm.model, vocab.txt, vocab.json, merges.txt, ...,
   chat templates): what a training checkpoint copies from its model source directory. */
int md_is_tokenizer_file(const char* name);

/* Removes a directory tree we created. Never follows a symbolic link (a link inside is unlinked,
   not descended into); a dir that is itself a link is unlinked. Best effort, no error. */
void md_remove_tree(const char* dir);

/* fsync a directory (its entries: after creating or renaming files in it). 0 or -1. */
int md_fsync_dir(const char* dir, char* err, size_t errlen);

/* A directory being written (see above). */
typedef struct {
    char* final;   /* the directory to write (as given, trailing slashes dropped) */
    char* tmp;     /* where it is written until md_out_commit: DIR/.NAME.tmp.<pid>.<k> */
    int   replace; /* an existing real directory at final is replaced at commit */
} MdOut;

/* Checks the final path (see above), removes orphans of dead runs for it, creates the temporary. 0, or -1 with err
   naming the path (nothing created). */
int md_out_begin(MdOut* d, const char* dir, int replace, char* err, size_t errlen);
/* fsyncs the temporary, renames it into place (replace: the existing directory aside first, removed after), fsyncs
   the parent. 0, or -1 with err; on failure the temporary is removed and the final path is as it was. */
int md_out_commit(MdOut* d, char* err, size_t errlen);
/* Gives up: removes the temporary. Safe after a failed commit or twice. */
void md_out_abort(MdOut* d);

/* Removes parent/.NAME.tmp.<pid>.<k> and parent/.NAME.old.<pid>.<k> directories (ours, not links) whose process no
   longer runs, where NAME is name (prefix 0) or starts with it (prefix 1); an .old one is renamed back to NAME when
   NAME is missing. Returns how many were removed. */
int md_clean_stale(const char* parent, const char* name, int prefix);

#ifdef __cplusplus
}
#endif
