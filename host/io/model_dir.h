/* model_dir.h -- the file-system side of writing a model directory (the reference's format:
   gliner_config.json, model.safetensors, tokenizer files, labels_tokenizer/), shared by
   `gliner convert` (host/cli/convert.c) and training checkpoints (host/train/checkpoint.c).
   Both build the output in a temporary sibling directory and rename it into place, so an output
   directory appears whole or not at all. */
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Copies one regular file byte for byte (the copy is fsync'ed). 0 or -1 (err names both paths). */
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

#ifdef __cplusplus
}
#endif
