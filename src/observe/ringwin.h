/*
 * The rings' occupancy window: once per drop check it closes the capture's
 * window (high-water marks, saturation) and turns each lane's rings into
 * the sizing figures the drop check advises with (drops/drops.h
 * saker_drops_rings): how full the fullest ring got, and what a ring that
 * dropped would have needed. It keeps the previous window's per-ring
 * counts to take differences.
 */
#ifndef SAKER_RINGWIN_H
#define SAKER_RINGWIN_H

#include "capture/capture.h"
#include "drops/drops.h"

struct saker_ringwin;

/* 0 or -ENOMEM. */
int saker_ringwin_new(struct saker_ringwin **out);
/* Ends the rings' occupancy window and hands it to the drop check (w NULL: nothing). */
void saker_ringwin_close(struct saker_ringwin *w, struct saker_capture *cap,
			 struct saker_drops *drops);
/* NULL ok. */
void saker_ringwin_free(struct saker_ringwin *w);

#endif
