/* hub.c -- see hub.h. The cache layout and the environment variables are huggingface_hub's
   (constants.py, file_download.py): HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE. We
   write plain files into snapshots/<commit>/ rather than blobs/ + symlinks; huggingface_hub reads
   either, since it only looks at snapshots/<commit>/<file>. */
#include "hub.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef GLINER_HAVE_CURL
#include <curl/curl.h>
#endif

#include "../check.h"
#include "../log.h"
#include "out_file.h"
#include "read_file.h"

#ifndef GLINER_VERSION
#define GLINER_VERSION "0"
#endif

#define PATH_LEN 4096

/* What is fetched, in download order. A GLiNER checkpoint: its config, its tokenizer files when it has them
   (published legacy checkpoints have none: the backbone's are used), then the weights, model.safetensors or else
   pytorch_model.bin, last -- so a snapshot holding the weights has had every other file attempted (what "complete"
   means in cache_complete). A backbone (model_name, labels_encoder, labels_decoder): its tokenizer files, then
   config.json, and its weights last when gliner init builds a model from it. Files of a slow tokenizer are asked
   for only when there is no tokenizer.json: a backbone always, a checkpoint only when it has a
   tokenizer_config.json (the reference then takes its tokenizer from it). */
typedef enum { F_OPTIONAL, F_REQUIRED, F_SLOW, F_WEIGHTS } FileKind;
typedef struct { const char* name; FileKind kind; } HubFile;
static const HubFile GLINER_FILES[] = {
    {"gliner_config.json", F_REQUIRED},
    {"tokenizer_config.json", F_OPTIONAL},
    {"special_tokens_map.json", F_OPTIONAL},
    {"added_tokens.json", F_OPTIONAL},
    {"labels_tokenizer/tokenizer.json", F_OPTIONAL},
    {"labels_tokenizer/tokenizer_config.json", F_OPTIONAL},
    {"labels_tokenizer/special_tokens_map.json", F_OPTIONAL},
    {"tokenizer.json", F_OPTIONAL},
    {"spm.model", F_SLOW},
    {"sentencepiece.bpe.model", F_SLOW},
    {"vocab.txt", F_SLOW},
    {"vocab.json", F_SLOW},
    {"merges.txt", F_SLOW},
    {"model.safetensors", F_WEIGHTS},
    {NULL, F_OPTIONAL},
};
static const HubFile BACKBONE_FILES[] = {
    {"tokenizer_config.json", F_OPTIONAL},
    {"special_tokens_map.json", F_OPTIONAL},
    {"added_tokens.json", F_OPTIONAL},
    {"tokenizer.json", F_OPTIONAL},
    {"spm.model", F_SLOW},
    {"sentencepiece.bpe.model", F_SLOW},
    {"vocab.txt", F_SLOW},
    {"vocab.json", F_SLOW},
    {"merges.txt", F_SLOW},
    {"config.json", F_REQUIRED},
    {"model.safetensors", F_WEIGHTS}, /* only for gliner init (R_BACKBONE_WEIGHTS) */
    {NULL, F_OPTIONAL},
};
enum { R_CHECKPOINT, R_BACKBONE, R_BACKBONE_WEIGHTS };
/* a backbone's tokenizer sources: one of them makes a cached snapshot usable */
static const char* TOKENIZER_SOURCES[] = {"tokenizer.json", "spm.model", "sentencepiece.bpe.model", "vocab.txt",
                                          "vocab.json", NULL};

static int is_name_char(int c) { return isalnum(c) || c == '.' || c == '_' || c == '-'; }

/* one path component of a repo id or a revision: [A-Za-z0-9._-]+, not starting with '.' or '-' */
static int valid_part(const char* s, size_t n) {
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char((unsigned char)s[i])) return 0;
    return 1;
}

int hub_is_repo_id(const char* name) {
    const char* slash = strchr(name, '/');
    if (!slash) return 0;
    const char* at = strchr(slash + 1, '@');
    size_t nlen = at ? (size_t)(at - slash - 1) : strlen(slash + 1);
    if (!valid_part(name, (size_t)(slash - name)) || !valid_part(slash + 1, nlen)) return 0;
    if (strstr(name, "..")) return 0;
    return !at || valid_part(at + 1, strlen(at + 1));
}

int hub_is_backbone_id(const char* name) {
    if (strchr(name, '/')) return hub_is_repo_id(name);
    /* the Hub's canonical repos have no owner: "gpt2", "bert-base-cased", "xlm-roberta-base" */
    const char* at = strchr(name, '@');
    size_t nlen = at ? (size_t)(at - name) : strlen(name);
    return valid_part(name, nlen) && !strstr(name, "..") && (!at || valid_part(at + 1, strlen(at + 1)));
}

static int file_exists(const char* dir, const char* name) {
    char p[PATH_LEN];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int env_true(const char* name) {
    const char* v = getenv(name);
    return v && (!strcmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true"));
}

/* huggingface_hub's HF_HUB_CACHE default */
static void cache_root(char* out, size_t len) {
    const char* v = getenv("HF_HUB_CACHE");
    if (v && *v) { snprintf(out, len, "%s", v); return; }
    v = getenv("HF_HOME");
    if (v && *v) { snprintf(out, len, "%s/hub", v); return; }
    v = getenv("XDG_CACHE_HOME");
    if (v && *v) { snprintf(out, len, "%s/huggingface/hub", v); return; }
    const char* home = getenv("HOME");
    if (!home || !*home) {
        struct passwd* pw = getpwuid(getuid());
        home = pw && pw->pw_dir ? pw->pw_dir : "/tmp";
    }
    snprintf(out, len, "%s/.cache/huggingface/hub", home);
}

static int mkdir_p(const char* path, char* err, size_t errlen) {
    char p[PATH_LEN];
    snprintf(p, sizeof p, "%s", path);
    for (char* s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) return gl_set_err(err, errlen, "%s: cannot create directory: %s", p, strerror(errno));
            *s = c;
            if (!c) break;
        }
    }
    return 0;
}

/* refs/<revision>: the commit hash huggingface_hub recorded for it, or "" */
static void read_ref(const char* repo_dir, const char* rev, char* out, size_t len) {
    char p[PATH_LEN];
    out[0] = 0;
    snprintf(p, sizeof p, "%s/refs/%s", repo_dir, rev);
    size_t n; /* the shared reader: a FIFO there is refused, not waited on */
    char* buf = gl_read_file(p, 127, "a ref (a commit hash)", &n, NULL, NULL, 0);
    if (!buf) return;
    while (n && isspace((unsigned char)buf[n - 1])) buf[--n] = 0;
    if (valid_part(buf, n)) snprintf(out, len, "%s", buf);
    free(buf);
}

/* A repo id "owner/name[@rev]" in the cache: repo, rev ("main" by default), the repo's cache directory, and the
   snapshot directories to try in order (refs/<rev> -> snapshots/<commit>, else snapshots/<rev>: rev may be a
   commit). Returns how many candidates (0-2). */
typedef struct {
    char repo[256], rev[128], repo_dir[PATH_LEN], snap[2][PATH_LEN];
} CachePaths;

static int cache_paths(const char* id, CachePaths* c) {
    const char* at = strchr(id, '@');
    snprintf(c->repo, sizeof c->repo, "%.*s", (int)(at ? (size_t)(at - id) : strlen(id)), id);
    snprintf(c->rev, sizeof c->rev, "%s", at ? at + 1 : "main");
    const char* slash = strchr(c->repo, '/');
    char root[PATH_LEN], commit[128] = "";
    cache_root(root, sizeof root);
    if (slash)
        snprintf(c->repo_dir, sizeof c->repo_dir, "%s/models--%.*s--%s", root, (int)(slash - c->repo), c->repo, slash + 1);
    else /* an owner-less canonical repo (backbones only) */
        snprintf(c->repo_dir, sizeof c->repo_dir, "%s/models--%s", root, c->repo);
    read_ref(c->repo_dir, c->rev, commit, sizeof commit);
    int n = 0;
    const char* cand[2] = {commit, c->rev};
    for (int k = 0; k < 2; k++)
        if (*cand[k]) snprintf(c->snap[n++], PATH_LEN, "%s/snapshots/%s", c->repo_dir, cand[k]);
    return n;
}

/* 1: a usable snapshot (a checkpoint: its config and weights; a backbone: config.json and a tokenizer source, and
   its weights for R_BACKBONE_WEIGHTS); 0: not */
static int cache_complete(const char* snap, int what) {
    const int weights = file_exists(snap, "model.safetensors") || file_exists(snap, "pytorch_model.bin");
    if (what == R_CHECKPOINT) return file_exists(snap, "gliner_config.json") && weights;
    if (!file_exists(snap, "config.json") || (what == R_BACKBONE_WEIGHTS && !weights)) return 0;
    for (int i = 0; TOKENIZER_SOURCES[i]; i++)
        if (file_exists(snap, TOKENIZER_SOURCES[i])) return 1;
    return 0;
}

#ifdef GLINER_HAVE_CURL

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* The most bytes fetched for one file whose size the server does not announce; GLINER_HUB_MAX_BYTES overrides it. */
#define HUB_MAX_BYTES_DEFAULT ((int64_t)64 << 30)

/* one download of a checkpoint: where its files go */
typedef struct {
    const char* repo_dir;
    const char* rev;
    int64_t     max_bytes;       /* for a file of no announced size */
    char        snap[PATH_LEN];  /* snapshots/<commit or rev>, chosen when the first file's body begins */
    char        commit[128];     /* X-Repo-Commit of the first file ("" if the server did not say) */
} Dl;

/* one file: the response headers seen so far, and the body going into the snapshot through a GlOut */
typedef struct {
    Dl*         dl;
    const char* name;       /* the file, relative to the snapshot */
    long        status;     /* of the response in progress (each redirect starts a new one) */
    int64_t     clen;       /* its Content-Length, -1 if none */
    int64_t     linked;     /* X-Linked-Size of any response of the chain (the Hub's size of an LFS file), -1 */
    int64_t     cap;        /* the most bytes accepted, set when the body begins */
    const char* cap_from;   /* the header that announced it, NULL for the hard cap */
    int64_t     written, discarded;
    int         opened, oversize, failed;
    GlOut       out;
    char        err[1024];  /* why opening the destination failed */
    char        commit[128]; /* X-Repo-Commit, from any response of the redirect chain */
} Sink;

/* a header value that is a byte count: 1 to 18 digits; else -1 */
static int64_t parse_size(const char* v, size_t n) {
    while (n && (*v == ' ' || *v == '\t')) { v++; n--; }
    while (n && isspace((unsigned char)v[n - 1])) n--;
    if (n == 0 || n > 18) return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* the body begins: the size cap, the snapshot directory (the first file's X-Repo-Commit names it), the GlOut */
static int sink_open(Sink* s) {
    Dl* dl = s->dl;
    s->cap = s->linked >= 0 ? s->linked : s->clen >= 0 ? s->clen : dl->max_bytes;
    s->cap_from = s->linked >= 0 ? "X-Linked-Size" : s->clen >= 0 ? "Content-Length" : NULL;
    if (s->clen > s->cap) { /* the body says it is larger than announced: refused before a byte is written */
        s->oversize = 1;
        return -1;
    }
    if (!dl->snap[0]) {
        snprintf(dl->commit, sizeof dl->commit, "%s", s->commit);
        snprintf(dl->snap, sizeof dl->snap, "%s/snapshots/%s", dl->repo_dir, dl->commit[0] ? dl->commit : dl->rev);
    }
    char dest[PATH_LEN], dir[PATH_LEN];
    snprintf(dest, sizeof dest, "%s/%s", dl->snap, s->name);
    snprintf(dir, sizeof dir, "%s", dest);
    *strrchr(dir, '/') = 0;
    if (mkdir_p(dir, s->err, sizeof s->err) || gl_out_open(&s->out, dest, s->err, sizeof s->err)) {
        s->failed = 1;
        return -1;
    }
    s->opened = 1;
    return 0;
}

static size_t on_body(char* p, size_t sz, size_t n, void* ud) {
    Sink* s = ud;
    const size_t len = sz * n;
    if (s->status != 200) { /* an error page: discarded, and not much of it */
        s->discarded += (int64_t)len;
        return s->discarded > (1 << 20) ? 0 : len;
    }
    if (!s->opened && sink_open(s)) return 0;
    if ((int64_t)len > s->cap - s->written) { /* more than announced: cut off here */
        s->oversize = 1;
        return 0;
    }
    if (gl_out_write(&s->out, p, len)) return 0;
    s->written += (int64_t)len;
    return len;
}

static size_t on_header(char* p, size_t sz, size_t n, void* ud) {
    Sink* s = ud;
    size_t len = sz * n;
    static const char key[] = "x-repo-commit:", clen[] = "content-length:", linked[] = "x-linked-size:";
    if (len > 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (the first, or after a redirect) */
        const char* sp = memchr(p, ' ', len);
        s->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        s->clen = -1;
    } else if (len > sizeof clen - 1 && !strncasecmp(p, clen, sizeof clen - 1)) {
        s->clen = parse_size(p + sizeof clen - 1, len - (sizeof clen - 1));
    } else if (len > sizeof linked - 1 && !strncasecmp(p, linked, sizeof linked - 1)) {
        s->linked = parse_size(p + sizeof linked - 1, len - (sizeof linked - 1));
    } else if (len > sizeof key - 1 && !strncasecmp(p, key, sizeof key - 1)) {
        const char* v = p + sizeof key - 1;
        size_t vl = len - (sizeof key - 1);
        while (vl && (*v == ' ' || *v == '\t')) { v++; vl--; }
        while (vl && isspace((unsigned char)v[vl - 1])) vl--;
        if (valid_part(v, vl) && vl < sizeof s->commit) { memcpy(s->commit, v, vl); s->commit[vl] = 0; }
    }
    return len;
}

static const char* status_hint(long status) {
    switch (status) {
    case 401: return " (unauthorized: a private or gated repo, or no such repo; set HF_TOKEN)";
    case 403: return " (forbidden: a gated repo whose conditions were not accepted, or a token without access)";
    case 404: return " (not found: no such repo, revision or file)";
    case 429: return " (rate limited: try again later, or set HF_TOKEN)";
    default: return status >= 500 ? " (server error: try again later)" : "";
    }
}

/* GETs url into the snapshot's file `name` through a GlOut (an exclusive temporary beside it, renamed at the
   end: the final name never holds half a file). The body is capped at the size the server announced (X-Linked-Size,
   else Content-Length; else dl->max_bytes): more is cut off and refused, less is a transfer cut short.
   *status: the final HTTP status. Returns 0 on HTTP 200 with the file in place; 1 on another HTTP status (nothing
   written, err filled); -1 on a transfer, size or file error (err filled). */
static int http_get(const char* url, Dl* dl, const char* name, long* status, char* err, size_t errlen) {
    pthread_once(&curl_once, curl_init_once);
    Sink s = {.dl = dl, .name = name, .clen = -1, .linked = -1};
    CURL* c = curl_easy_init();
    CHECK(c, "curl_easy_init failed");
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist* hdr = NULL;
    const char* token = getenv("HF_TOKEN");
    char auth[4200];
    if (token && *token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth); /* libcurl drops it when a redirect leaves the host */
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_USERAGENT, "gliner.c/" GLINER_VERSION);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* stalled for a minute: give up */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    const int64_t announced = s.linked >= 0 ? s.linked : s.clen;
    int ret = 0;
    if (s.oversize) {
        if (s.cap_from)
            ret = gl_set_err(err, errlen, "%s: the body is larger than the %lld bytes the server announced (%s): refused",
                             url, (long long)s.cap, s.cap_from);
        else
            ret = gl_set_err(err, errlen, "%s: larger than %lld bytes, the limit for a file whose size the server does "
                             "not announce (GLINER_HUB_MAX_BYTES): refused", url, (long long)s.cap);
    } else if (s.failed) {
        ret = gl_set_err(err, errlen, "%s", s.err);
    } else if (s.opened && s.out.werrno) {
        ret = gl_out_flush(&s.out, err, errlen); /* "DEST: write failed: ..." */
    } else if (*status != 200 && (rc == CURLE_OK || rc == CURLE_WRITE_ERROR)) {
        gl_set_err(err, errlen, "%s: HTTP %ld%s", url, *status, status_hint(*status));
        ret = 1;
    } else if (rc != CURLE_OK) {
        ret = gl_set_err(err, errlen, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
    } else if (announced >= 0 && announced != s.written) {
        ret = gl_set_err(err, errlen, "%s: received %lld bytes, expected %lld (%s): transfer cut short", url,
                         (long long)s.written, (long long)announced, s.linked >= 0 ? "X-Linked-Size" : "Content-Length");
    } else if (!s.opened && sink_open(&s)) { /* an empty file */
        ret = gl_set_err(err, errlen, "%s", s.err);
    }
    if (ret == 0) {
        ret = gl_out_commit(&s.out, err, errlen);
        if (ret == 0) log_info("hub: %s (%lld bytes)", url, (long long)s.written);
    } else if (s.opened) {
        gl_out_abort(&s.out);
    }
    return ret;
}

static void url_of(char* out, size_t len, const char* endpoint, const char* repo, const char* rev, const char* file) {
    size_t n = strlen(endpoint);
    while (n && endpoint[n - 1] == '/') n--;
    snprintf(out, len, "%.*s/%s/resolve/%s/%s", (int)n, endpoint, repo, rev, file);
}

/* GLINER_HUB_MAX_BYTES: a positive byte count, or the default */
static int max_bytes_from_env(int64_t* out, char* err, size_t errlen) {
    const char* v = getenv("GLINER_HUB_MAX_BYTES");
    *out = HUB_MAX_BYTES_DEFAULT;
    if (!v || !*v) return 0;
    int64_t x = parse_size(v, strlen(v));
    if (x <= 0)
        return gl_set_err(err, errlen, "GLINER_HUB_MAX_BYTES: expected a positive number of bytes, found '%s'", v);
    *out = x;
    return 0;
}

/* downloads a plan's files (GLINER_FILES or a backbone's) into repo_dir/snapshots/<commit or rev>/; fills snap */
static int download(const HubFile* plan, int backbone, int weights, const char* repo, const char* rev, const char* repo_dir, char* snap,
                    size_t snaplen, char* err, size_t errlen) {
    const char* endpoint = getenv("HF_ENDPOINT");
    if (!endpoint || !*endpoint) endpoint = "https://huggingface.co";
    char url[PATH_LEN], dest[PATH_LEN];
    long status;
    Dl dl = {.repo_dir = repo_dir, .rev = rev};
    if (max_bytes_from_env(&dl.max_bytes, err, errlen)) return -1;
    if (mkdir_p(repo_dir, err, errlen)) return -1;
    int have_tok_json = 0, have_tok_config = 0;
    for (int i = 0; plan[i].name; i++) {
        const char* name = plan[i].name;
        if (plan[i].kind == F_SLOW && (have_tok_json || (!backbone && !have_tok_config))) continue;
        if (plan[i].kind == F_WEIGHTS && !weights) continue;
        url_of(url, sizeof url, endpoint, repo, rev, name);
        int r = http_get(url, &dl, name, &status, err, errlen);
        if (r < 0) return -1;
        if (r == 0) {
            have_tok_json |= !strcmp(name, "tokenizer.json");
            have_tok_config |= !strcmp(name, "tokenizer_config.json");
            continue;
        }
        if (plan[i].kind != F_REQUIRED && plan[i].kind != F_WEIGHTS && status == 404) { err[0] = 0; continue; }
        if (plan[i].kind == F_WEIGHTS && status == 404) {
            /* checkpoints of gliner < 0.2 (urchade/gliner_*-v2.1) ship pytorch_model.bin only */
            char e2[1024];
            snprintf(e2, sizeof e2, "%s", err);
            url_of(url, sizeof url, endpoint, repo, rev, "pytorch_model.bin");
            r = http_get(url, &dl, "pytorch_model.bin", &status, err, errlen);
            if (r == 0) continue;
            if (r > 0) snprintf(err, errlen, "%s (and no pytorch_model.bin either)", e2);
            return -1;
        }
        return -1;
    }
    snprintf(snap, snaplen, "%s", dl.snap);
    if (dl.commit[0] && strcmp(dl.commit, rev)) {
        /* refs/<rev> -> commit, as huggingface_hub records it */
        char refs[PATH_LEN];
        snprintf(refs, sizeof refs, "%s/refs", repo_dir);
        if (mkdir_p(refs, err, errlen)) return -1;
        snprintf(dest, sizeof dest, "%s/%s", refs, rev);
        if (gl_write_file_atomic(dest, dl.commit, strlen(dl.commit), err, errlen)) return -1;
    }
    return 0;
}
#endif /* GLINER_HAVE_CURL */

int hub_can_download(void) {
#ifdef GLINER_HAVE_CURL
    return 1;
#else
    return 0;
#endif
}

/* a repo id's snapshot in the cache (complete for its plan), else downloaded; what: R_CHECKPOINT, R_BACKBONE... */
static int resolve_repo(const char* name, int what, char* out_dir, size_t len, char* err, size_t errlen) {
    const int backbone = what != R_CHECKPOINT;
    CachePaths cp;
    const int ns = cache_paths(name, &cp);
    const char *repo = cp.repo, *rev = cp.rev, *repo_dir = cp.repo_dir;
    char snap[PATH_LEN];
    for (int k = 0; k < ns; k++) {
        snprintf(snap, sizeof snap, "%s", cp.snap[k]);
        if (cache_complete(snap, what)) {
            if (strlen(snap) >= len) return gl_set_err(err, errlen, "%s: path too long", snap);
            snprintf(out_dir, len, "%s", snap);
            log_debug("hub: %s: cached at %s", name, snap);
            return 0;
        }
    }
    if (env_true("HF_HUB_OFFLINE"))
        return gl_set_err(err, errlen, "%s: not a local directory, and not in the Hugging Face cache (%s) while "
                          "HF_HUB_OFFLINE is set: unset it to download, or give a %s directory", name, repo_dir,
                          backbone ? "backbone" : "checkpoint");
#ifdef GLINER_HAVE_CURL
    char e2[2048] = "";
    if (download(backbone ? BACKBONE_FILES : GLINER_FILES, backbone, what != R_BACKBONE, repo, rev, repo_dir, snap,
                 sizeof snap, e2, sizeof e2)) {
        gl_set_err(err, errlen, "%s: not a local directory; fetching it from the Hugging Face Hub: %s", name, e2);
        return -1;
    }
    if (!cache_complete(snap, what)) /* a backbone answered for config.json but has no tokenizer files */
        return gl_set_err(err, errlen, "%s: fetched from the Hugging Face Hub into %s, but it has no tokenizer "
                          "(tokenizer.json, spm.model, sentencepiece.bpe.model, vocab.txt or vocab.json)", name, snap);
    if (strlen(snap) >= len) return gl_set_err(err, errlen, "%s: path too long", snap);
    snprintf(out_dir, len, "%s", snap);
    return 0;
#else
    return gl_set_err(err, errlen, "%s: not a local directory, and not in the Hugging Face cache (%s); this build "
                      "has no libcurl to download it (install libcurl4-openssl-dev and rebuild)", name, repo_dir);
#endif
}

int hub_resolve(const char* name, char* out_dir, size_t len, char* err, size_t errlen) {
    struct stat sb;
    char nm[512]; /* the name in messages: it comes from a config or a flag, so one line whatever it holds */
    if (err && errlen) err[0] = 0;
    if (stat(name, &sb) == 0 || !hub_is_repo_id(name)) {
        if (strlen(name) >= len)
            return gl_set_err(err, errlen, "%s: path too long", gl_escape(nm, sizeof nm, name, strlen(name), 0));
        snprintf(out_dir, len, "%s", name);
        return 0;
    }
    return resolve_repo(name, R_CHECKPOINT, out_dir, len, err, errlen);
}

static int resolve_backbone(const char* name, int what, char* out_dir, size_t len, char* err, size_t errlen) {
    struct stat sb;
    char nm[512]; /* model_name comes from a config: escaped into one line (newlines and all) */
    if (err && errlen) err[0] = 0;
    if (!name || !*name) return gl_set_err(err, errlen, "no backbone name (model_name is empty)");
    gl_escape(nm, sizeof nm, name, strlen(name), 0);
    if (stat(name, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return gl_set_err(err, errlen, "%s: not a directory (expected a backbone directory or a Hub repo id)", nm);
        if (strlen(name) >= len) return gl_set_err(err, errlen, "%s: path too long", nm);
        snprintf(out_dir, len, "%s", name);
        return 0;
    }
    if (!hub_is_backbone_id(name))
        return gl_set_err(err, errlen, "%s: no such directory, and not a Hub repo id (owner/name[@revision])", nm);
    return resolve_repo(name, what, out_dir, len, err, errlen);
}

int hub_resolve_backbone(const char* name, char* out_dir, size_t len, char* err, size_t errlen) {
    return resolve_backbone(name, R_BACKBONE, out_dir, len, err, errlen);
}

int hub_resolve_backbone_weights(const char* name, char* out_dir, size_t len, char* err, size_t errlen) {
    return resolve_backbone(name, R_BACKBONE_WEIGHTS, out_dir, len, err, errlen);
}
