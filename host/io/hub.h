/* hub.h -- checkpoints named by a Hugging Face Hub repo id ("owner/name" or "owner/name@revision"),
   fetched once into the cache huggingface_hub uses, so a cache filled by Python is reused and the
   other way round:
     ${HF_HUB_CACHE:-${HF_HOME:-${XDG_CACHE_HOME:-~/.cache}/huggingface}/hub}/models--owner--name/
         refs/<revision>            the commit the revision pointed to (when the server said: X-Repo-Commit)
         snapshots/<commit or revision>/gliner_config.json, model.safetensors, tokenizer.json, ...
   Files come from ${HF_ENDPOINT:-https://huggingface.co}/<owner>/<name>/resolve/<revision>/<file>
   (redirects followed; HF_TOKEN sent as "Authorization: Bearer"). Each file is written through a GlOut
   (host/io/out_file.h: an exclusive temporary beside it, renamed at the end: a final name never holds half a
   file; orphans of killed runs removed). Its size is capped at what the server announced, as huggingface_hub
   reads it: X-Linked-Size (the Hub's size of an LFS file, on the redirect), else Content-Length; a body larger than
   that is cut off and refused, a shorter one is a transfer cut short, both errors naming the URL. A file of no
   announced size is capped at 64 GiB (GLINER_HUB_MAX_BYTES=N sets another limit in bytes).
   A snapshot that already has gliner_config.json and the weights (model.safetensors, else pytorch_model.bin) is
   used as is, with
   no network access (delete it to fetch again). HF_HUB_OFFLINE=1: the cache only, never the network.
   Without libcurl at build time only the cache is available. */
#pragma once
#include <stddef.h>

/* An existing path (directory or not), or a name that is not a repo id, is copied to out_dir unchanged
   (the loader then reports what is wrong with it). A repo id that is not a local path is looked up in
   the cache and, if absent, downloaded; out_dir receives the snapshot directory. Returns 0 or -1 with
   a one-line err naming the URL and the HTTP status, or the cache directory. */
int hub_resolve(const char* name_or_dir, char* out_dir, size_t len, char* err, size_t errlen);

/* A backbone named by a checkpoint's config (model_name, labels_encoder, labels_decoder), as transformers'
   from_pretrained finds it: an existing directory as is; else a repo id (owner/name[@revision], or an owner-less
   canonical name such as "gpt2") whose cached snapshot holds config.json and a tokenizer source (tokenizer.json,
   spm.model, sentencepiece.bpe.model, vocab.txt or vocab.json), else those files downloaded (tokenizer_config.json,
   special_tokens_map.json, added_tokens.json, tokenizer.json -- and only without it spm.model,
   sentencepiece.bpe.model, vocab.txt, vocab.json, merges.txt -- then config.json). Never the weights. */
int hub_resolve_backbone(const char* name, char* out_dir, size_t len, char* err, size_t errlen);

/* hub_resolve_backbone, with the backbone's weights too (model.safetensors, else pytorch_model.bin): the backbone
   gliner init builds a new model from. A cached snapshot without weights is completed. */
int hub_resolve_backbone_weights(const char* name, char* out_dir, size_t len, char* err, size_t errlen);

/* 1 if name can name a backbone on the Hub: a repo id, or an owner-less name ([A-Za-z0-9._-]+[@revision]). */
int hub_is_backbone_id(const char* name);

/* 1 if name has the shape of a Hub repo id: owner/name[@revision], letters, digits and ._- only. */
int hub_is_repo_id(const char* name);

/* 1 if this build can download (libcurl), else 0 (the cache still works). */
int hub_can_download(void);
