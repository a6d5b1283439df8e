/* comm_tcp.c -- the TCP communicator (comm.h) for a job that torchrun (or anything setting RANK, WORLD_SIZE,
   LOCAL_RANK, MASTER_ADDR, MASTER_PORT) launched without an MPI runtime behind the processes: host buffers, CPU
   training. torchrun's own default backend for CPU tensors (gloo) plays the same part for the reference.

   The wiring is a star. Rank 0 listens on MASTER_ADDR:MASTER_PORT (MASTER_PORT + 1 under torchrun itself, whose
   agent serves its own store on MASTER_PORT); every other rank connects to it (retrying until
   the start-up timeout: rank 0 may start late) and says who it is (a magic number, its rank, the world size). Rank 0
   refuses a process whose world size differs, whose rank is out of range or taken, with one line naming both, and
   lets the job start (a welcome to every rank) once all ranks are there. Every collective is then two phases through
   rank 0, each message a header (the collective, its sequence number, its sizes) and its data:
     up    each rank r > 0 sends its header and its part; rank 0 reads the ranks in the order 1, 2, ..., checks each
           header against its own call (a rank in another collective is an error naming both, never garbage), and
           combines: a sum is rank 0's values, then rank 1's added, then rank 2's, ... -- the same bits every run, and
           with 2 ranks the same as MPI's a + b;
     down  rank 0 sends each rank r > 0 a header and r's result (nothing but the header for a gather).
   All of the traffic goes through rank 0 (2 (N-1) x the buffer per collective): fine for CPU training, where a
   step's compute dwarfs it.

   Non-blocking: a start only queues the collective; a wait runs the queue up to its request, in start order (which
   every rank shares), so several may be in flight. Every send and receive polls with the wait's deadline
   (c->timeout_s): a peer that closes its socket or dies is an error naming it at once, a silent one a timeout.
   comm_abort sends each peer an abort frame carrying this rank's first error and exits, so the others fail at once
   instead of at their timeout. The peers are one machine type: headers go in the host's byte order (the magic number
   catches a mismatch). */
#include "comm.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define TCP_MAGIC   0x43544c47u         /* "GLTC" */
#define TCP_VERSION 1                   /* of the protocol: a hello of another version is refused */
#define TCP_CHUNK   ((size_t)1 << 20)   /* rank 0 receives a sum's operands this many bytes at a time */
#define TCP_IO_MAX  ((size_t)1 << 30)   /* one send / recv call moves at most this */
#define TCP_START_S 600.0               /* the start-up timeout (connecting, the handshake): c->timeout_s's default */

enum { OP_HELLO = 1, OP_WELCOME, OP_ALLREDUCE, OP_REDUCE_SCATTER, OP_ALLGATHERV, OP_GATHERV, OP_BCAST, OP_ABORT };

/* Every message starts with this. n and arg say what the sender called, so that rank 0 can check each rank's
   call against its own before it reads a byte of data. */
typedef struct {
    uint32_t magic;
    uint16_t op;
    uint8_t  type, redop; /* CommType, CommRedOp */
    int32_t  rank;        /* the sender */
    int32_t  arg;         /* bcast: the root; v-collectives: the count of rank `part`; hello: the world size;
                             abort: the exit code */
    int32_t  part;        /* the v-collectives: whose count arg is (up: the sender, down: the receiver) */
    uint32_t spare;       /* 0 */
    uint64_t seq;         /* the collective's number on the job, from 1 (hello: the protocol version) */
    uint64_t n;           /* the collective's size in elements (bcast: bytes) */
    uint64_t bytes;       /* the data that follows the header */
} TcpHdr;
_Static_assert(sizeof(TcpHdr) == 48, "TcpHdr: no padding, the same layout on every rank");

/* a collective queued by its start, run by a wait */
typedef struct TcpColl {
    int             op;
    CommType        t;
    CommRedOp       redop;
    float           pre;
    void*           x;      /* the buffer (gatherv: root 0's `all`) */
    const void*     mine;   /* gatherv: this rank's part */
    size_t          n;      /* allreduce: elements; bcast: bytes; the v-collectives: the sum of the counts */
    int             root;   /* bcast */
    int*            counts; /* the v-collectives: copies of the caller's (size entries each) */
    int*            displs;
    int             done, rc;
    struct TcpColl* next;
} TcpColl;

typedef struct {
    int*     fd;          /* rank 0: fd[r] the socket of rank r (fd[0] = -1); the others: fd[0], rank 0's */
    char     (*peer)[80]; /* "address:port" of each socket, for messages */
    int*     partial;     /* a message to that peer stopped half-sent: no abort frame can follow it */
    uint64_t seq;         /* collectives run so far */
    TcpColl *head, *tail; /* started, not yet run */
    char*    tmp;         /* rank 0: TCP_CHUNK bytes for the operand of a sum */
    const void** parts;   /* rank 0: size - 1 pieces of an all-gather's message, */
    size_t*  plen;        /* and their lengths */
    char     where[160];  /* the port rank 0 listens on, as the messages name it */
    int      broken;      /* a collective failed: every later one returns `fail` */
    char     fail[1024];  /* the first error (also what an abort frame tells the peers) */
} TcpImpl;

/* what one wait (or the start-up) is doing, for its messages */
typedef struct {
    Comm*       c;
    const char* what;
    double      limit;    /* seconds (<= 0: none), for the timeout message */
    double      deadline; /* now + limit, or INFINITY */
} Io;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static Io io_make(Comm* c, const char* what, double limit) {
    const Io io = {c, what, limit, limit > 0 ? now_s() + limit : INFINITY};
    return io;
}

/* The first error, kept in the communicator: a wait copies it out, an abort frame carries it. -1. */
GL_PRINTF(2, 3) static int io_fail(const Io* io, const char* fmt, ...) {
    TcpImpl* t = io->c->impl;
    if (t->broken) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->fail, sizeof t->fail, fmt, ap);
    va_end(ap);
    for (char* p = t->fail; *p; p++)
        if (*p == '\n') *p = ' '; /* one line, also in a peer's message */
    t->broken = 1;
    return -1;
}

static const char* type_name(int t) {
    static const char* const names[] = {"f32", "f64", "bf16", "i32", "bytes"};
    return t >= 0 && t <= COMM_BYTE ? names[t] : "?";
}

/* "collective #7, an all-reduce (sum) of 12 f32" */
static const char* hdr_desc(char* b, size_t len, const TcpHdr* h) {
    const unsigned long long s = (unsigned long long)h->seq, n = (unsigned long long)h->n;
    switch (h->op) {
    case OP_ALLREDUCE:
        snprintf(b, len, "collective #%llu, an all-reduce (%s) of %llu %s", s, h->redop == COMM_MAX ? "max" : "sum", n,
                 type_name(h->type));
        break;
    case OP_REDUCE_SCATTER:
        snprintf(b, len, "collective #%llu, a reduce-scatter of %llu %s (%d to rank %d)", s, n, type_name(h->type),
                 h->arg, h->part);
        break;
    case OP_ALLGATHERV:
        snprintf(b, len, "collective #%llu, an all-gather of %llu %s (%d from rank %d)", s, n, type_name(h->type),
                 h->arg, h->part);
        break;
    case OP_GATHERV:
        snprintf(b, len, "collective #%llu, a gather to rank 0 of %llu %s (%d from rank %d)", s, n, type_name(h->type),
                 h->arg, h->part);
        break;
    case OP_BCAST: snprintf(b, len, "collective #%llu, a broadcast of %llu bytes from rank %d", s, n, h->arg); break;
    default: snprintf(b, len, "a message of kind %d", h->op); break;
    }
    return b;
}

/* ---------------------------------------------------------------- sockets: every call bounded by the deadline */

static int io_closed(const Io* io, int r) {
    const TcpImpl* t = io->c->impl;
    return io_fail(io, "rank %d of %d: %s: rank %d at %s closed the connection: it exited or died", io->c->rank,
                   io->c->size, io->what, r, t->peer[r]);
}

static int io_broken_peer(const Io* io, int r, int e) {
    const TcpImpl* t = io->c->impl;
    if (e == ECONNRESET || e == EPIPE || e == ECONNABORTED) /* a reset: a process that ended with data unread */
        return io_closed(io, r);
    return io_fail(io, "rank %d of %d: %s: the connection to rank %d at %s failed: %s", io->c->rank, io->c->size,
                   io->what, r, t->peer[r], strerror(e));
}

/* waits until peer r's socket is ready for `events`; `doing` says what this rank waits for in the timeout message */
static int io_poll(const Io* io, int r, short events, const char* doing) {
    const TcpImpl* t = io->c->impl;
    for (;;) {
        int ms = -1;
        if (io->deadline != INFINITY) {
            const double left = io->deadline - now_s();
            if (left <= 0) break;
            ms = left > 1e6 ? 1000000000 : (int)ceil(left * 1e3);
        }
        struct pollfd p = {.fd = t->fd[r], .events = events};
        const int k = poll(&p, 1, ms);
        if (k > 0) return 0; /* ready, or hung up / failed: the send or recv says which */
        if (k < 0 && errno != EINTR) return io_broken_peer(io, r, errno);
    }
    return io_fail(io, "rank %d of %d: %s did not complete within %g s: another rank died or hangs (waited for rank %d "
                   "at %s %s)", io->c->rank, io->c->size, io->what, io->limit, r, t->peer[r], doing);
}

static int io_send(const Io* io, int r, const void* buf, size_t len) {
    const TcpImpl* t = io->c->impl;
    const char* p = buf;
    while (len) {
        if (io_poll(io, r, POLLOUT, "to take this rank's data")) return -1;
        const ssize_t k = send(t->fd[r], p, len < TCP_IO_MAX ? len : TCP_IO_MAX, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            len -= (size_t)k;
        } else if (k < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            return io_broken_peer(io, r, errno);
        }
    }
    return 0;
}

static int io_recv(const Io* io, int r, void* buf, size_t len) {
    const TcpImpl* t = io->c->impl;
    char* p = buf;
    while (len) {
        if (io_poll(io, r, POLLIN, "to send its part")) return -1;
        const ssize_t k = recv(t->fd[r], p, len < TCP_IO_MAX ? len : TCP_IO_MAX, MSG_DONTWAIT);
        if (k > 0) {
            p += k;
            len -= (size_t)k;
        } else if (k == 0) {
            return io_closed(io, r);
        } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            return io_broken_peer(io, r, errno);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- messages */

static TcpHdr hdr_make(const Comm* c, int op) {
    TcpHdr h;
    memset(&h, 0, sizeof h);
    h.magic = TCP_MAGIC;
    h.op = (uint16_t)op;
    h.rank = c->rank;
    return h;
}

/* one message to peer r: the header, then `nparts` pieces of data (h->bytes in all) */
static int msg_send(const Io* io, int r, const TcpHdr* h, const void* const* data, const size_t* len, int nparts) {
    TcpImpl* t = io->c->impl;
    t->partial[r] = 1;
    if (io_send(io, r, h, sizeof *h)) return -1;
    for (int i = 0; i < nparts; i++)
        if (len[i] && io_send(io, r, data[i], len[i])) return -1;
    t->partial[r] = 0;
    return 0;
}

/* Tells peer r that the job ends: an abort frame with this rank's first error, unless a message to r stopped
   half-sent (then r learns it from the closed socket). Best effort within io's deadline. */
static void abort_frame(const Io* io, int r, int code) {
    TcpImpl* t = io->c->impl;
    if (t->fd[r] < 0 || t->partial[r]) return;
    TcpHdr h = hdr_make(io->c, OP_ABORT);
    h.arg = code;
    h.bytes = strlen(t->fail);
    const void* data = t->fail;
    const size_t len = (size_t)h.bytes;
    const int broken = t->broken;
    t->broken = 1; /* a send that fails leaves t->fail as it is */
    msg_send(io, r, &h, &data, &len, 1);
    t->broken = broken;
}

/* Reads the next header from peer r and checks it is `want` (op, sizes, sequence number, data length); an abort
   frame from r becomes this rank's error, with r's reason. */
static int hdr_recv(const Io* io, int r, const TcpHdr* want) {
    const TcpImpl* t = io->c->impl;
    const Comm* c = io->c;
    TcpHdr h;
    if (io_recv(io, r, &h, sizeof h)) return -1;
    if (h.magic != TCP_MAGIC || h.rank != r)
        return io_fail(io, "rank %d of %d: %s: rank %d at %s sent something that is not a message of rank %d (magic "
                       "%08x, rank %d; expected %08x, %d): the streams are out of step", c->rank, c->size, io->what, r,
                       t->peer[r], r, (unsigned)h.magic, (int)h.rank, TCP_MAGIC, r);
    if (h.op == OP_ABORT) {
        char why[sizeof t->fail] = "";
        const size_t k = h.bytes < sizeof why - 1 ? (size_t)h.bytes : sizeof why - 1;
        if (k && io_recv(io, r, why, k)) return -1;
        why[k] = 0;
        return io_fail(io, "rank %d of %d: %s: rank %d at %s ended the job (exit code %d)%s%s", c->rank, c->size,
                       io->what, r, t->peer[r], (int)h.arg, *why ? ": " : "", why);
    }
    if (h.op != want->op || h.type != want->type || h.redop != want->redop || h.seq != want->seq ||
        h.n != want->n || h.arg != want->arg || h.part != want->part || h.bytes != want->bytes) {
        char a[160], b[160];
        return io_fail(io, "rank %d of %d: %s: rank %d at %s called %s where rank %d called %s (expected every rank to "
                       "call the same collectives, with the same sizes, in the same order)", c->rank, c->size,
                       io->what, r, t->peer[r], hdr_desc(a, sizeof a, &h), c->rank, hdr_desc(b, sizeof b, want));
    }
    return 0;
}

/* ---------------------------------------------------------------- the collectives: run by a wait */

/* acc[i] = acc[i] (op) in[i]: rank 0 folds the ranks in, one at a time */
static void combine(void* acc, const void* in, size_t n, CommType t, CommRedOp op) {
    switch (t) {
    case COMM_F32: {
        float* a = acc;
        const float* b = in;
        if (op == COMM_SUM) for (size_t i = 0; i < n; i++) a[i] += b[i];
        else for (size_t i = 0; i < n; i++) a[i] = b[i] > a[i] ? b[i] : a[i];
    } break;
    case COMM_F64: {
        double* a = acc;
        const double* b = in;
        if (op == COMM_SUM) for (size_t i = 0; i < n; i++) a[i] += b[i];
        else for (size_t i = 0; i < n; i++) a[i] = b[i] > a[i] ? b[i] : a[i];
    } break;
    case COMM_BF16: { /* each pair added in fp32, rounded to bf16: NCCL's bf16 sum, and comm_mpi.c's */
        uint16_t* a = acc;
        const uint16_t* b = in;
        for (size_t i = 0; i < n; i++) a[i] = comm_f32_to_bf16(comm_bf16_to_f32(a[i]) + comm_bf16_to_f32(b[i]));
    } break;
    case COMM_I32: {
        int32_t* a = acc;
        const int32_t* b = in;
        if (op == COMM_SUM) for (size_t i = 0; i < n; i++) a[i] = (int32_t)((uint32_t)a[i] + (uint32_t)b[i]);
        else for (size_t i = 0; i < n; i++) a[i] = b[i] > a[i] ? b[i] : a[i];
    } break;
    case COMM_BYTE: CHECK(0, "comm: a reduction of bytes"); break;
    }
}

/* rank 0: reads rank r's n elements and folds them into x, TCP_CHUNK bytes at a time */
static int fold_recv(const Io* io, int r, void* x, size_t n, CommType t, CommRedOp op) {
    TcpImpl* tc = io->c->impl;
    const size_t es = comm_type_size(t), step = TCP_CHUNK / es;
    for (size_t i = 0; i < n; i += step) {
        const size_t k = n - i < step ? n - i : step;
        if (io_recv(io, r, tc->tmp, k * es)) return -1;
        combine((char*)x + i * es, tc->tmp, k, t, op);
    }
    return 0;
}

static size_t part_bytes(const TcpColl* k, int r) { return (size_t)k->counts[r] * comm_type_size(k->t); }
static char*  part_at(void* base, const TcpColl* k, int r) {
    return (char*)base + (size_t)k->displs[r] * comm_type_size(k->t);
}

/* The header rank `from` sends rank `to` for collective k, as this rank's call sees it (rank 0 builds the one it
   expects from each rank, each rank the one it expects from rank 0). */
static TcpHdr coll_hdr(const Comm* c, const TcpColl* k, uint64_t seq, int from, int to) {
    TcpHdr h = hdr_make(c, k->op);
    const int r = from ? from : to; /* the rank other than 0 */
    const size_t es = comm_type_size(k->t);
    h.rank = from;
    h.type = (uint8_t)k->t;
    h.redop = (uint8_t)k->redop;
    h.seq = seq;
    h.n = k->n;
    switch (k->op) {
    case OP_ALLREDUCE: h.bytes = k->n * es; break;
    case OP_REDUCE_SCATTER: /* up: the whole buffer; down: r's block of the sum */
        h.arg = k->counts[r], h.part = r;
        h.bytes = from ? k->n * es : part_bytes(k, r);
        break;
    case OP_ALLGATHERV: /* up: r's block; down: every other block */
        h.arg = k->counts[r], h.part = r;
        h.bytes = from ? part_bytes(k, r) : k->n * es - part_bytes(k, r);
        break;
    case OP_GATHERV: /* up: r's block; down: the header alone (rank 0 has it) */
        h.arg = k->counts[r], h.part = r;
        h.bytes = from ? part_bytes(k, r) : 0;
        break;
    case OP_BCAST: /* up: the root's data (nothing from the others); down: the data to all but the root */
        h.arg = k->root;
        h.bytes = (from ? r == k->root : r != k->root) ? k->n : 0;
        break;
    }
    return h;
}

static void scale(void* x, size_t n, CommType t, float pre) {
    if (t == COMM_F32 && pre != 1.0f)
        for (size_t i = 0; i < n; i++) ((float*)x)[i] *= pre;
}

/* rank 0's side of collective k */
static int run_root(const Io* io, TcpColl* k, uint64_t seq) {
    Comm* c = io->c;
    TcpImpl* t = c->impl;
    const int reduce = k->op == OP_ALLREDUCE || k->op == OP_REDUCE_SCATTER;
    if (reduce) scale(k->x, k->n, k->t, k->pre);
    if (k->op == OP_GATHERV && part_bytes(k, 0)) memmove(part_at(k->x, k, 0), k->mine, part_bytes(k, 0));
    /* up: the ranks in order 1, 2, ...: a sum is ((x0 + x1) + x2) + ... */
    for (int r = 1; r < c->size; r++) {
        const TcpHdr want = coll_hdr(c, k, seq, r, 0);
        if (hdr_recv(io, r, &want)) return -1;
        if (reduce && fold_recv(io, r, k->x, k->n, k->t, k->redop)) return -1;
        if ((k->op == OP_ALLGATHERV || k->op == OP_GATHERV) && io_recv(io, r, part_at(k->x, k, r), want.bytes))
            return -1;
        if (k->op == OP_BCAST && want.bytes && io_recv(io, r, k->x, want.bytes)) return -1;
    }
    /* down */
    for (int r = 1; r < c->size; r++) {
        const TcpHdr h = coll_hdr(c, k, seq, 0, r);
        int np = 1;
        t->parts[0] = k->op == OP_REDUCE_SCATTER ? part_at(k->x, k, r) : k->x;
        t->plen[0] = (size_t)h.bytes;
        if (k->op == OP_ALLGATHERV) { /* every rank's block but r's, in rank order (they need not be contiguous) */
            np = 0;
            for (int q = 0; q < c->size; q++)
                if (q != r) t->parts[np] = part_at(k->x, k, q), t->plen[np++] = part_bytes(k, q);
        }
        if (msg_send(io, r, &h, t->parts, t->plen, np)) return -1;
    }
    return 0;
}

/* the side of rank r > 0 */
static int run_peer(const Io* io, TcpColl* k, uint64_t seq) {
    Comm* c = io->c;
    const int me = c->rank;
    const TcpHdr up = coll_hdr(c, k, seq, me, 0);
    const void* data = k->x;
    if (k->op == OP_ALLREDUCE || k->op == OP_REDUCE_SCATTER) scale(k->x, k->n, k->t, k->pre);
    if (k->op == OP_ALLGATHERV) data = part_at(k->x, k, me);
    if (k->op == OP_GATHERV) data = k->mine;
    const size_t len = up.bytes;
    if (msg_send(io, 0, &up, &data, &len, 1)) return -1;
    const TcpHdr down = coll_hdr(c, k, seq, 0, me);
    if (hdr_recv(io, 0, &down)) return -1;
    switch (k->op) {
    case OP_ALLREDUCE: return io_recv(io, 0, k->x, down.bytes);
    case OP_REDUCE_SCATTER: return io_recv(io, 0, part_at(k->x, k, me), down.bytes);
    case OP_ALLGATHERV:
        for (int q = 0; q < c->size; q++)
            if (q != me && part_bytes(k, q) && io_recv(io, 0, part_at(k->x, k, q), part_bytes(k, q))) return -1;
        return 0;
    case OP_BCAST: return down.bytes ? io_recv(io, 0, k->x, down.bytes) : 0;
    }
    return 0;
}

/* ---------------------------------------------------------------- CommOps: starts queue, waits run */

static TcpColl* coll_start(Comm* c, int op, CommType t, CommRedOp redop, float pre, void* x, size_t n, CommReq* rq) {
    TcpImpl* tc = c->impl;
    TcpColl* k = calloc(1, sizeof *k);
    CHECK(k, "out of memory");
    k->op = op, k->t = t, k->redop = redop, k->pre = pre, k->x = x, k->n = n;
    CHECK(n <= SIZE_MAX / 8, "comm: %zu elements", n);
    if (tc->tail) tc->tail->next = k;
    else tc->head = k;
    tc->tail = k;
    rq->h = k;
    rq->n_h = 1;
    rq->live = 1;
    return k;
}

/* the v-collectives keep copies of counts and displs (the caller's arrays may go before the wait); returns the sum
   of the counts */
static size_t coll_parts(Comm* c, TcpColl* k, const int* counts, const int* displs) {
    k->counts = malloc((size_t)c->size * sizeof *k->counts);
    k->displs = malloc((size_t)c->size * sizeof *k->displs);
    CHECK(k->counts && k->displs, "out of memory");
    size_t total = 0;
    for (int r = 0; r < c->size; r++) {
        CHECK(counts[r] >= 0 && displs[r] >= 0, "comm: rank %d's count %d at %d", r, counts[r], displs[r]);
        k->counts[r] = counts[r];
        k->displs[r] = displs[r];
        total += (size_t)counts[r];
    }
    k->n = total;
    return total;
}

static int t_iallreduce(Comm* c, void* x, size_t n, CommType t, CommRedOp op, float pre, CommReq* rq, char* err,
                        size_t errlen) {
    (void)err, (void)errlen;
    CHECK(t != COMM_BYTE, "comm: an all-reduce of bytes");
    CHECK(!(t == COMM_BF16 && op == COMM_MAX), "comm: bf16 max");
    coll_start(c, OP_ALLREDUCE, t, op, pre, x, n, rq);
    return 0;
}

static int t_ireduce_scatter(Comm* c, void* x, const int* counts, const int* displs, CommType t, float pre,
                             CommReq* rq, char* err, size_t errlen) {
    (void)err, (void)errlen;
    CHECK(t == COMM_F32 || t == COMM_F64 || t == COMM_BF16, "comm: reduce-scatter of type %d", (int)t);
    size_t total = 0;
    for (int r = 0; r < c->size; r++) {
        CHECK(displs[r] == (int)total, "comm: reduce-scatter needs contiguous ranges (rank %d at %d, expected %zu)", r,
              displs[r], total);
        total += (size_t)counts[r];
    }
    coll_parts(c, coll_start(c, OP_REDUCE_SCATTER, t, COMM_SUM, pre, x, 0, rq), counts, displs);
    return 0;
}

static int t_iallgatherv(Comm* c, void* x, const int* counts, const int* displs, CommType t, CommReq* rq, char* err,
                         size_t errlen) {
    (void)err, (void)errlen;
    coll_parts(c, coll_start(c, OP_ALLGATHERV, t, COMM_SUM, 1.0f, x, 0, rq), counts, displs);
    return 0;
}

static int t_igatherv(Comm* c, const void* mine, void* all, const int* counts, const int* displs, CommType t,
                      CommReq* rq, char* err, size_t errlen) {
    (void)err, (void)errlen;
    TcpColl* k = coll_start(c, OP_GATHERV, t, COMM_SUM, 1.0f, all, 0, rq);
    k->mine = mine;
    const size_t total = coll_parts(c, k, counts, displs);
    CHECK(total == 0 || c->rank != 0 || all, "comm: a gather to rank 0 without a buffer");
    return 0;
}

static int t_ibcast(Comm* c, void* buf, size_t bytes, int root, CommReq* rq, char* err, size_t errlen) {
    (void)err, (void)errlen;
    CHECK(root >= 0 && root < c->size, "comm: a broadcast from rank %d of %d", root, c->size);
    coll_start(c, OP_BCAST, COMM_BYTE, COMM_SUM, 1.0f, buf, bytes, rq)->root = root;
    return 0;
}

static void coll_free(TcpColl* k) {
    free(k->counts);
    free(k->displs);
    free(k);
}

/* Runs the queue up to rq's collective (in start order: an earlier one first), then frees rq's. */
static int t_wait(Comm* c, CommReq* rq, const char* what, char* err, size_t errlen) {
    TcpImpl* t = c->impl;
    TcpColl* k = rq->h;
    char before[256];
    Io io = io_make(c, what, c->timeout_s);
    while (!k->done) {
        TcpColl* q = t->head;
        CHECK(q, "comm: a wait for a collective that was not started");
        t->head = q->next;
        if (!t->head) t->tail = NULL;
        io.what = what;
        if (q != k) {
            snprintf(before, sizeof before, "a collective started before %s", what);
            io.what = before;
        }
        const uint64_t seq = ++t->seq;
        q->rc = t->broken ? -1 : c->rank == 0 ? run_root(&io, q, seq) : run_peer(&io, q, seq);
        q->done = 1;
    }
    const int rc = k->rc;
    coll_free(k);
    memset(rq, 0, sizeof *rq);
    return rc ? gl_set_err(err, errlen, "%s", t->fail) : 0;
}

/* The peers learn of the end from an abort frame (with this rank's first error, if any) where their stream is at a
   message boundary, else from the closed socket; either way at once, not at their timeout. */
static void t_abort(Comm* c, int code) {
    TcpImpl* t = c->impl;
    const Io io = io_make(c, "ending the job", 1.0); /* cheap or not at all: 1 s for all the peers together */
    for (int r = 0; r < c->size; r++) abort_frame(&io, r, code);
    for (int r = 0; r < c->size; r++) {
        if (t->fd[r] < 0) continue;
        shutdown(t->fd[r], SHUT_WR);
        /* unread data makes close() send a reset, which may overtake the abort frame: read what is there */
        char sink[4096];
        for (int i = 0; i < 256 && recv(t->fd[r], sink, sizeof sink, MSG_DONTWAIT) > 0; i++) {}
        close(t->fd[r]);
    }
    _exit(code); /* as MPI_Abort: no atexit handlers (another library's threads may be stuck) */
}

static void tcp_close(Comm* c) {
    TcpImpl* t = c->impl;
    for (int r = 0; r < c->size; r++)
        if (t->fd[r] >= 0) close(t->fd[r]);
    while (t->head) {
        TcpColl* q = t->head;
        t->head = q->next;
        coll_free(q);
    }
    free(t->fd);
    free(t->peer);
    free(t->partial);
    free(t->tmp);
    free(t->parts);
    free(t->plen);
    free(t);
    free(c);
}

static void t_free(Comm* c) { tcp_close(c); }

static const CommOps tcp_ops = {t_iallreduce, t_ireduce_scatter, t_iallgatherv, t_igatherv, t_ibcast,
                                t_wait,       t_abort,           t_free};

/* ---------------------------------------------------------------- the start-up */

static void sock_name(char* b, size_t len, const struct sockaddr* sa, socklen_t sl) {
    char host[64] = "?", port[16] = "?";
    getnameinfo(sa, sl, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(b, len, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
}

static void sock_tune(int fd) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* the headers are small: no Nagle delay */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static int resolve(const Io* io, const char* addr, int port, int passive, struct addrinfo** res) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    for (;;) {
        const int e = getaddrinfo(addr, ps, &hints, res);
        if (e == 0) return 0;
        if (e == EAI_AGAIN && now_s() < io->deadline) { /* the name server, for now: again */
            const struct timespec nap = {0, 200000000};
            nanosleep(&nap, NULL);
            continue;
        }
        return io_fail(io, "rank %d of %d: MASTER_ADDR '%s': %s (expected the host name or address of rank 0's "
                       "machine)", io->c->rank, io->c->size, addr, gai_strerror(e));
    }
}

/* rank 0: listens on addr:port, takes a hello from each other rank and welcomes them all */
static int start_root(const Io* io, const char* addr, int port) {
    Comm* c = io->c;
    TcpImpl* t = c->impl;
    struct addrinfo* res;
    if (resolve(io, addr, port, 1, &res)) return -1;
    int ls = -1, e = 0;
    for (struct addrinfo* a = res; a && ls < 0; a = a->ai_next) {
        ls = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (ls < 0) { e = errno; continue; }
        const int one = 1;
        setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* a port left in TIME_WAIT by the last job */
        if (bind(ls, a->ai_addr, a->ai_addrlen) || listen(ls, c->size)) {
            e = errno;
            close(ls);
            ls = -1;
        }
    }
    freeaddrinfo(res);
    if (ls < 0)
        return io_fail(io, "rank 0 of %d: cannot listen on MASTER_ADDR %s %s: %s (expected an address of this "
                       "machine and a port no other process uses)", c->size, addr, t->where, strerror(e));
    int rc = 0, joined = 0;
    while (joined < c->size - 1) {
        struct pollfd p = {.fd = ls, .events = POLLIN};
        const double left = io->deadline - now_s();
        const int k = left > 0 ? poll(&p, 1, (int)ceil(left * 1e3)) : 0;
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            char missing[256] = "";
            size_t at = 0;
            for (int r = 1; r < c->size && at < sizeof missing - 16; r++)
                if (t->fd[r] < 0) at += (size_t)snprintf(missing + at, sizeof missing - at, "%s%d", at ? ", " : "", r);
            rc = io_fail(io, "rank 0 of %d: %d of the %d other ranks connected to MASTER_ADDR %s %s within %g s "
                         "(missing: rank %s): expected every rank started with this MASTER_ADDR and MASTER_PORT",
                         c->size, joined, c->size - 1, addr, t->where, TCP_START_S, missing);
            break;
        }
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        const int fd = accept(ls, (struct sockaddr*)&sa, &sl);
        if (fd < 0) continue; /* EINTR, or a connection that went away before it was taken */
        sock_tune(fd);
        char who[80];
        sock_name(who, sizeof who, (struct sockaddr*)&sa, sl);
        /* read its hello through slot 0 (rank 0's own, unused) so the messages can name the address */
        t->fd[0] = fd;
        snprintf(t->peer[0], sizeof t->peer[0], "%s", who);
        TcpHdr h;
        Io hi = *io;
        hi.what = "reading a new connection's hello";
        rc = io_recv(&hi, 0, &h, sizeof h);
        t->fd[0] = -1;
        if (rc) { close(fd); break; }
        if (h.magic != TCP_MAGIC || h.op != OP_HELLO) {
            rc = io_fail(io, "rank 0 of %d: a process at %s connected to %s and is not a gliner.c rank (expected its "
                         "hello, magic %08x; got %08x)", c->size, who, t->where, TCP_MAGIC, (unsigned)h.magic);
        } else if (h.seq != TCP_VERSION) {
            rc = io_fail(io, "rank 0 of %d: rank %d at %s speaks protocol %llu (expected %d: the same gliner build on "
                         "every rank)", c->size, (int)h.rank, who, (unsigned long long)h.seq, TCP_VERSION);
        } else if (h.arg != c->size) {
            rc = io_fail(io, "rank 0 of %d: rank %d at %s says WORLD_SIZE=%d (expected %d, as rank 0's)", c->size,
                         (int)h.rank, who, (int)h.arg, c->size);
        } else if (h.rank < 1 || h.rank >= c->size) {
            rc = io_fail(io, "rank 0 of %d: a process at %s says RANK=%d (expected 1 to %d: rank 0 is this process)",
                         c->size, who, (int)h.rank, c->size - 1);
        } else if (t->fd[h.rank] >= 0) {
            rc = io_fail(io, "rank 0 of %d: two processes say RANK=%d, at %s and at %s (expected each rank once)",
                         c->size, (int)h.rank, t->peer[h.rank], who);
        }
        if (rc) { /* the refused process learns why from an abort frame (comm_tcp_new tells the others) */
            const Io bye = io_make(c, "refusing a rank", 1.0);
            t->fd[0] = fd;
            abort_frame(&bye, 0, 1);
            t->fd[0] = -1;
            close(fd);
            break;
        }
        t->fd[h.rank] = fd;
        snprintf(t->peer[h.rank], sizeof t->peer[h.rank], "%s", who);
        joined++;
    }
    close(ls);
    for (int r = 1; r < c->size && rc == 0; r++) {
        TcpHdr w = hdr_make(c, OP_WELCOME);
        w.arg = c->size;
        rc = msg_send(io, r, &w, NULL, NULL, 0);
    }
    return rc;
}

/* rank r > 0: connects to rank 0 (retrying: it may start late), says hello, waits for the welcome */
static int start_peer(const Io* io, const char* addr, int port) {
    Comm* c = io->c;
    TcpImpl* t = c->impl;
    snprintf(t->peer[0], sizeof t->peer[0], strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
    int e = ECONNREFUSED;
    while (t->fd[0] < 0) {
        struct addrinfo* res;
        if (resolve(io, addr, port, 0, &res)) return -1;
        for (struct addrinfo* a = res; a && t->fd[0] < 0; a = a->ai_next) {
            const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
            if (fd < 0) { e = errno; continue; }
            int k = connect(fd, a->ai_addr, a->ai_addrlen);
            if (k && errno == EINPROGRESS) { /* an address that drops packets: bounded by the deadline too */
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                const double left = io->deadline - now_s();
                socklen_t sl = sizeof e;
                e = ETIMEDOUT;
                if (left > 0 && poll(&p, 1, (int)ceil(left * 1e3)) > 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl);
                k = e ? -1 : 0;
            } else if (k) {
                e = errno;
            }
            if (k == 0) {
                sock_tune(fd);
                t->fd[0] = fd;
            } else {
                close(fd);
            }
        }
        freeaddrinfo(res);
        if (t->fd[0] >= 0) break;
        if (now_s() >= io->deadline)
            return io_fail(io, "rank %d of %d: no connection to rank 0 at MASTER_ADDR %s %s within %g s (last try: "
                           "%s): expected rank 0 of the job listening there", c->rank, c->size, addr, t->where,
                           TCP_START_S, strerror(e));
        const struct timespec nap = {0, 100000000}; /* 0.1 s between tries */
        nanosleep(&nap, NULL);
    }
    TcpHdr h = hdr_make(c, OP_HELLO);
    h.arg = c->size;
    h.seq = TCP_VERSION;
    if (msg_send(io, 0, &h, NULL, NULL, 0)) return -1;
    TcpHdr w = hdr_make(c, OP_WELCOME);
    w.rank = 0;
    w.arg = c->size;
    return hdr_recv(io, 0, &w);
}

Comm* comm_tcp_new(int rank, int size, int local_rank, const char* addr, int port, char* err, size_t errlen) {
    CHECK(size > 1 && rank >= 0 && rank < size && port > 0 && port < 65536, "comm_tcp_new: rank %d of %d, port %d",
          rank, size, port);
    Comm* c = calloc(1, sizeof *c);
    TcpImpl* t = calloc(1, sizeof *t);
    CHECK(c && t, "out of memory");
    c->name = "tcp";
    c->rank = rank;
    c->size = size;
    c->local_rank = local_rank;
    c->timeout_s = TCP_START_S; /* as comm_mpi.c's; the trainer sets training.collective_timeout_s */
    c->ops = &tcp_ops;
    c->impl = t;
    t->fd = malloc((size_t)size * sizeof *t->fd);
    t->peer = calloc((size_t)size, sizeof *t->peer);
    t->partial = calloc((size_t)size, sizeof *t->partial);
    t->tmp = rank == 0 ? malloc(TCP_CHUNK) : NULL;
    t->parts = rank == 0 ? calloc((size_t)size, sizeof *t->parts) : NULL;
    t->plen = rank == 0 ? calloc((size_t)size, sizeof *t->plen) : NULL;
    CHECK(t->fd && t->peer && t->partial && (rank || (t->tmp && t->parts && t->plen)), "out of memory");
    for (int r = 0; r < size; r++) t->fd[r] = -1;
    /* Under torchrun (TORCHELASTIC_USE_AGENT_STORE=True) the launcher's agent serves its own key-value store on
       MASTER_PORT (its workers rendezvous there: PyTorch's TCPStore, whose protocol changes between versions), so
       the ranks meet on the port after it. */
    const char* agent = getenv("TORCHELASTIC_USE_AGENT_STORE");
    const int master_port = port;
    if (agent && !strcmp(agent, "True")) port++;
    if (port == master_port) snprintf(t->where, sizeof t->where, "port %d (MASTER_PORT)", port);
    else snprintf(t->where, sizeof t->where, "port %d (MASTER_PORT + 1: torchrun's agent serves its store on "
                  "MASTER_PORT %d)", port, master_port);
    const Io io = io_make(c, rank == 0 ? "waiting for the ranks" : "joining the job", TCP_START_S);
    const int rc = port > 65535 ? io_fail(&io, "rank %d of %d: MASTER_PORT %d: the ranks would meet on %s, which is "
                                          "no port (expected MASTER_PORT below 65535 under torchrun)", rank, size,
                                          master_port, t->where)
                   : rank == 0  ? start_root(&io, addr, port)
                                : start_peer(&io, addr, port);
    if (rc) {
        gl_set_err(err, errlen, "%s", t->fail);
        const Io bye = io_make(c, "refusing the job", 1.0); /* the ranks already in learn why at once */
        for (int r = 1; r < size && rank == 0; r++) abort_frame(&bye, r, 1);
        tcp_close(c);
        return NULL;
    }
    return c;
}
