/* predict_out.h -- where `gliner predict` writes its lines, and how a killed run is continued.

   stdout, or --output FILE through io/out_file.h: a regular FILE gets an exclusive temporary beside it,
   `.FILE.tmp.<pid>.<k>`, renamed over FILE when every input is done; a device or a FIFO is written directly.
   The temporary is flock'ed while the run lives. So after `kill -9` FILE is untouched and the temporary is an
   orphan (unlocked) holding the lines written so far -- one per input, in input order, flushed per chunk:
   - a second run on FILE while the first lives finds a locked temporary and refuses (two runs never interleave);
   - a run with --resume copies the longest orphan's complete chunks of lines (a line cut by the kill is dropped;
     each line's "index" must follow the last) into its own temporary and continues with the next chunk: the final
     FILE is byte for byte an uninterrupted run's (the same chunks make the same batches);
   - a run without --resume leaves orphans alone, says on stderr where they are and how to continue them, and
     removes them only after it has committed FILE (a partial output is never destroyed before a successor exists).
   A run that stops on a bad input or a write error keeps its own temporary the same way (when it holds a line). */
#pragma once
#include "io/out_file.h"

typedef struct {
    GlOut     out;
    int       to_file;    /* a regular FILE through a temporary (resumable) */
    char**    orphans;    /* temporaries of dead runs beside FILE */
    int       n_orphans;
    long long lines;      /* lines handed to the writer */
    long long flushed;    /* lines known written (after the last successful flush) */
    long long shard_i, shard_n; /* --shard I/N (shard_n > 1): the lines are the shard's inputs, indices I, I + N, ... */
} PredictOut;

/* path NULL: stdout. resume: continue an orphan, whose indices must run from input first_index on; *resumed = the
   lines taken from it: its complete lines rounded down to a multiple of chunk, so that the run goes on at the start
   of one of the interrupted run's chunks and batches the rest as it did. With a shard (shard_n > 1), first_index,
   chunk and *resumed count the shard's own inputs, and the orphan's indices must be shard_i + k * shard_n. 0 or -1
   with err. */
int  pout_open(PredictOut* p, const char* path, int resume, long long first_index, long long chunk, long long shard_i,
               long long shard_n, long long* resumed, char* err, size_t errlen);
int  pout_line(PredictOut* p, const char* s); /* s and a '\n'; -1 once a write failed */
/* After each chunk: flush; -1 with err "OUT: write failed after F of N lines: REASON". */
int  pout_flush(PredictOut* p, char* err, size_t errlen);
/* The end of a good run: FILE in place (orphans removed), or stdout flushed (main() closes it). 0, or -1 with err:
   then call pout_fail. */
int  pout_commit(PredictOut* p, char* err, size_t errlen);
/* The end of a failed run: a temporary holding lines is kept (its path printed with how to continue), else removed.
   Safe after a failed pout_commit. */
void pout_fail(PredictOut* p);
