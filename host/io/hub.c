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

#ifndef GLINER_VERSION
#define GLINER_VERSION "0"
#endif

#define PATH_LEN 4096

/* files of a GLiNER checkpoint, in download order. The weights come last, so a snapshot holding them
   has had every other file attempted (what "complete" means in cache_complete). */
typedef enum { F_OPTIONAL, F_REQUIRED } FileKind;
static const struct { const char* name; FileKind kind; } FILES[] = {
    {"gliner_config.json", F_REQUIRED},
    {"tokenizer_config.json", F_OPTIONAL},
    {"special_tokens_map.json", F_OPTIONAL},
    {"added_tokens.json", F_OPTIONAL},
    {"labels_tokenizer/tokenizer.json", F_OPTIONAL},
    {"labels_tokenizer/tokenizer_config.json", F_OPTIONAL},
    {"labels_tokenizer/special_tokens_map.json", F_OPTIONAL},
    {"tokenizer.json", F_REQUIRED},
    {"model.safetensors", F_REQUIRED},
};
#define N_FILES ((int)(sizeof FILES / sizeof FILES[0]))

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
    FILE* f = fopen(p, "r");
    if (!f) return;
    char buf[128];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n && isspace((unsigned char)buf[n - 1])) buf[--n] = 0;
    if (valid_part(buf, n)) snprintf(out, len, "%s", buf);
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
    snprintf(c->repo_dir, sizeof c->repo_dir, "%s/models--%.*s--%s", root, (int)(slash - c->repo), c->repo, slash + 1);
    read_ref(c->repo_dir, c->rev, commit, sizeof commit);
    int n = 0;
    const char* cand[2] = {commit, c->rev};
    for (int k = 0; k < 2; k++)
        if (*cand[k]) snprintf(c->snap[n++], PATH_LEN, "%s/snapshots/%s", c->repo_dir, cand[k]);
    return n;
}

int hub_cached_snapshot(const char* id, const char* file, char* out, size_t len) {
    if (!hub_is_repo_id(id)) return -1;
    CachePaths cp;
    const int n = cache_paths(id, &cp);
    for (int k = 0; k < n; k++) {
        const char* snap = cp.snap[k];
        if (file_exists(snap, file) && strlen(snap) < len) {
            snprintf(out, len, "%s", snap);
            return 0;
        }
    }
    return -1;
}

/* 1: a usable snapshot; -1: one that has only pytorch_model.bin (err filled); 0: none */
static int cache_complete(const char* snap, char* err, size_t errlen) {
    if (!file_exists(snap, "gliner_config.json") || !file_exists(snap, "tokenizer.json")) return 0;
    if (file_exists(snap, "model.safetensors")) return 1;
    if (file_exists(snap, "pytorch_model.bin")) {
        gl_set_err(err, errlen, "%s: this checkpoint has only pytorch_model.bin; convert it with "
                   "`python3 scripts/convert_bin.py %s` (writes model.safetensors beside it)", snap, snap);
        return -1;
    }
    return 0;
}

#ifdef GLINER_HAVE_CURL

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct {
    FILE*   f;
    int64_t written;
    int     write_failed;
    char    commit[128]; /* X-Repo-Commit, from any response of the redirect chain */
} Sink;

static size_t on_body(char* p, size_t sz, size_t n, void* ud) {
    Sink* s = ud;
    size_t w = fwrite(p, 1, sz * n, s->f);
    s->written += (int64_t)w;
    if (w != sz * n) s->write_failed = errno ? errno : EIO;
    return w;
}

static size_t on_header(char* p, size_t sz, size_t n, void* ud) {
    Sink* s = ud;
    size_t len = sz * n;
    static const char key[] = "x-repo-commit:";
    if (len > sizeof key - 1 && !strncasecmp(p, key, sizeof key - 1)) {
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

/* GETs url into dest (via dest.incomplete.<pid>, renamed on success). *status: the final HTTP status.
   Returns 0 on HTTP 200 with the file in place; 1 on another HTTP status (nothing written, err filled);
   -1 on a transfer or file error (err filled). */
static int http_get(const char* url, const char* dest, long* status, char* commit, size_t commit_len, char* err,
                    size_t errlen) {
    pthread_once(&curl_once, curl_init_once);
    char tmp[PATH_LEN + 64];
    snprintf(tmp, sizeof tmp, "%s.incomplete.%d", dest, (int)getpid());
    Sink s = {0};
    s.f = fopen(tmp, "wb");
    if (!s.f) return gl_set_err(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
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
    curl_off_t clen = -1;
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    int ret = 0;
    if (rc != CURLE_OK && !(s.write_failed && rc == CURLE_WRITE_ERROR)) {
        ret = gl_set_err(err, errlen, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
    } else if (s.write_failed) {
        ret = gl_set_err(err, errlen, "%s: cannot write: %s", tmp, strerror(s.write_failed));
    } else if (*status != 200) {
        gl_set_err(err, errlen, "%s: HTTP %ld%s", url, *status, status_hint(*status));
        ret = 1;
    } else if (clen >= 0 && clen != s.written) {
        ret = gl_set_err(err, errlen, "%s: received %lld bytes, expected %lld (Content-Length): transfer cut short",
                         url, (long long)s.written, (long long)clen);
    }
    if (ret == 0 && (fflush(s.f) || fsync(fileno(s.f)))) ret = gl_set_err(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
    if (fclose(s.f) && ret == 0) ret = gl_set_err(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
    if (ret == 0 && rename(tmp, dest)) ret = gl_set_err(err, errlen, "%s: cannot rename to %s: %s", tmp, dest, strerror(errno));
    if (ret != 0) unlink(tmp);
    if (ret == 0) {
        log_info("hub: %s (%lld bytes)", url, (long long)s.written);
        if (s.commit[0] && commit[0] == 0) snprintf(commit, commit_len, "%s", s.commit);
    }
    return ret;
}

static void url_of(char* out, size_t len, const char* endpoint, const char* repo, const char* rev, const char* file) {
    size_t n = strlen(endpoint);
    while (n && endpoint[n - 1] == '/') n--;
    snprintf(out, len, "%.*s/%s/resolve/%s/%s", (int)n, endpoint, repo, rev, file);
}

/* downloads the checkpoint files into repo_dir/snapshots/<commit or rev>/; fills snap */
static int download(const char* repo, const char* rev, const char* repo_dir, char* snap, size_t snaplen, char* err,
                    size_t errlen) {
    const char* endpoint = getenv("HF_ENDPOINT");
    if (!endpoint || !*endpoint) endpoint = "https://huggingface.co";
    char url[PATH_LEN], dest[PATH_LEN], commit[128] = "";
    long status;
    if (mkdir_p(repo_dir, err, errlen)) return -1;
    /* the config first, beside the snapshots: its response says which commit this revision is */
    char first[PATH_LEN];
    snprintf(first, sizeof first, "%s/gliner_config.json.%d", repo_dir, (int)getpid());
    url_of(url, sizeof url, endpoint, repo, rev, FILES[0].name);
    if (http_get(url, first, &status, commit, sizeof commit, err, errlen)) return -1;
    snprintf(snap, snaplen, "%s/snapshots/%s", repo_dir, commit[0] ? commit : rev);
    snprintf(dest, sizeof dest, "%s/gliner_config.json", snap);
    if (mkdir_p(snap, err, errlen)) { unlink(first); return -1; }
    if (rename(first, dest)) {
        gl_set_err(err, errlen, "%s: cannot rename to %s: %s", first, dest, strerror(errno));
        unlink(first);
        return -1;
    }
    for (int i = 1; i < N_FILES; i++) {
        const char* name = FILES[i].name;
        const char* slash = strrchr(name, '/');
        if (slash) {
            char sub[PATH_LEN];
            snprintf(sub, sizeof sub, "%s/%.*s", snap, (int)(slash - name), name);
            if (mkdir_p(sub, err, errlen)) return -1;
        }
        snprintf(dest, sizeof dest, "%s/%s", snap, name);
        url_of(url, sizeof url, endpoint, repo, rev, name);
        int r = http_get(url, dest, &status, commit, sizeof commit, err, errlen);
        if (r < 0) return -1;
        if (r == 0) continue;
        if (FILES[i].kind == F_OPTIONAL && status == 404) { err[0] = 0; continue; }
        if (!strcmp(name, "model.safetensors") && status == 404) {
            /* older checkpoints ship pytorch_model.bin only: fetch it and say how to convert it */
            char e2[1024];
            snprintf(e2, sizeof e2, "%s", err);
            snprintf(dest, sizeof dest, "%s/pytorch_model.bin", snap);
            url_of(url, sizeof url, endpoint, repo, rev, "pytorch_model.bin");
            if (http_get(url, dest, &status, commit, sizeof commit, err, errlen) == 0) {
                cache_complete(snap, err, errlen);
                return -1;
            }
            snprintf(err, errlen, "%s (and no pytorch_model.bin either)", e2);
            return -1;
        }
        if (!strcmp(name, "tokenizer.json") && status == 404) {
            size_t o = strlen(err);
            snprintf(err + o, errlen > o ? errlen - o : 0,
                     "; gliner.c needs the checkpoint's tokenizer.json (save the model with a recent gliner package)");
        }
        return -1;
    }
    if (commit[0] && strcmp(commit, rev)) {
        /* refs/<rev> -> commit, as huggingface_hub records it */
        char refs[PATH_LEN], tmp[PATH_LEN + 32];
        snprintf(refs, sizeof refs, "%s/refs", repo_dir);
        if (mkdir_p(refs, err, errlen)) return -1;
        snprintf(dest, sizeof dest, "%s/%s", refs, rev);
        snprintf(tmp, sizeof tmp, "%s.tmp.%d", dest, (int)getpid());
        FILE* f = fopen(tmp, "w");
        if (!f || fputs(commit, f) < 0 || fclose(f) || rename(tmp, dest)) {
            if (f) unlink(tmp);
            return gl_set_err(err, errlen, "%s: cannot write: %s", dest, strerror(errno));
        }
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

int hub_resolve(const char* name, char* out_dir, size_t len, char* err, size_t errlen) {
    struct stat sb;
    if (err && errlen) err[0] = 0;
    if (stat(name, &sb) == 0 || !hub_is_repo_id(name)) {
        if (strlen(name) >= len) return gl_set_err(err, errlen, "%s: path too long", name);
        snprintf(out_dir, len, "%s", name);
        return 0;
    }
    CachePaths cp;
    const int ns = cache_paths(name, &cp);
    const char *repo = cp.repo, *rev = cp.rev, *repo_dir = cp.repo_dir;
    char snap[PATH_LEN];
    for (int k = 0; k < ns; k++) {
        snprintf(snap, sizeof snap, "%s", cp.snap[k]);
        int c = cache_complete(snap, err, errlen);
        if (c < 0) return -1;
        if (c > 0) {
            if (strlen(snap) >= len) return gl_set_err(err, errlen, "%s: path too long", snap);
            snprintf(out_dir, len, "%s", snap);
            log_debug("hub: %s: cached at %s", name, snap);
            return 0;
        }
    }
    if (env_true("HF_HUB_OFFLINE"))
        return gl_set_err(err, errlen, "%s: not a local directory, and not in the Hugging Face cache (%s) while "
                          "HF_HUB_OFFLINE is set: unset it to download, or give a checkpoint directory", name, repo_dir);
#ifdef GLINER_HAVE_CURL
    char e2[2048] = "";
    if (download(repo, rev, repo_dir, snap, sizeof snap, e2, sizeof e2)) {
        gl_set_err(err, errlen, "%s: not a local directory; fetching it from the Hugging Face Hub: %s", name, e2);
        return -1;
    }
    if (strlen(snap) >= len) return gl_set_err(err, errlen, "%s: path too long", snap);
    snprintf(out_dir, len, "%s", snap);
    return 0;
#else
    return gl_set_err(err, errlen, "%s: not a local directory, and not in the Hugging Face cache (%s); this build "
                      "has no libcurl to download it (install libcurl4-openssl-dev and rebuild)", name, repo_dir);
#endif
}
