/*
 * Standard output is written by two writers: the stdout alert channel (its
 * worker thread, blocking) and the --dump sink (the event loop, non-blocking).
 * A write of at most PIPE_BUF bytes to a pipe is atomic, but a longer line, or
 * one a full pipe cut short, takes several writes, and the other writer's bytes
 * would land inside it (one JSON alert glued into a dump line: both unreadable).
 * The writer of a line therefore holds this from its first byte to its newline.
 * It is a process-wide lock because fd 1 is process-wide.
 */
#ifndef SAKER_OUTPUTS_STDOUT_LINE_H
#define SAKER_OUTPUTS_STDOUT_LINE_H

#include <stdbool.h>

/* Never blocks: false when the other writer is inside a line. */
bool saker_stdout_line_trylock(void);
/* Only by the thread that took it. */
void saker_stdout_line_unlock(void);

#endif
