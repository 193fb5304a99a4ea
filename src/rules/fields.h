/*
 * The fields rules and outputs read (Falco's names: proc.name, fd.name,
 * evt.arg.flags, ...), over one decoded event and the process/fd view.
 *
 * A field is looked up by name once, at compile time, into an instance (the
 * field plus its argument: proc.aname[2], evt.arg.flags), which pre-resolves
 * everything that does not depend on the event. At run time an extraction
 * context (one per engine) caches each instance's values for the current
 * event, so twenty rules reading proc.name cost one lookup; nothing is
 * allocated per event (strings built for an event live in the context's
 * arena until the next one).
 *
 * Every field has a fixed type. Some fields are known but never have a value
 * in saker (SAKER_FF_NEVER: capabilities, image metadata from Falco's
 * container plugin, ...): a comparison on them is false, as Falco treats a
 * missing value, and the compiler folds it away.
 */
#ifndef SAKER_FIELDS_H
#define SAKER_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "saker_abi.h"

struct saker_event;
struct saker_view;
struct saker_proc;
struct saker_fd;

enum saker_ftype {
	SAKER_FT_STR = 0,
	SAKER_FT_S64,
	SAKER_FT_U64,
	SAKER_FT_BOOL,
	SAKER_FT_IPADDR, /* compared with addresses */
	SAKER_FT_IPNET,	 /* an address compared with networks: "10.0.0.0/8" */
	SAKER_FT_RELTIME,
	SAKER_FT_ABSTIME,
};

enum saker_field_flags {
	SAKER_FF_ARG_NONE = 0,
	SAKER_FF_ARG_INDEX = 1u << 0,	 /* [n], optional: proc.aname, proc.aname[2] */
	SAKER_FF_ARG_REQUIRED = 1u << 1, /* evt.arg[...] / evt.arg.name */
	SAKER_FF_NEVER = 1u << 2,	 /* known, never has a value in saker */
	SAKER_FF_MULTI = 1u << 3,   /* may yield several values; a check is true if any matches */
	SAKER_FF_PLUGIN = 1u << 4,  /* Falco takes it from a plugin (container, k8s) */
	SAKER_FF_NONZERO = 1u << 5, /* never 0 when present: "= 0" folds to false */
};

struct saker_field_info {
	const char *name;
	enum saker_ftype type;
	unsigned flags;
	const char *desc;
	const char *never_reason; /* why saker has no value (SAKER_FF_NEVER) */
};

/* Every field saker knows, in --list order. */
size_t saker_fields_count(void);
const struct saker_field_info *saker_fields_at(size_t i);
const char *saker_ftype_name(enum saker_ftype t);

/* Slots events are indexed by: syscall ids, then the non-syscall event types. */
#define SAKER_SLOT_PROCEXIT (SAKER_SYSCALL_MAX + 0)
#define SAKER_NSLOTS	    (SAKER_SYSCALL_MAX + 1)
#define SAKER_SLOT_WORDS    ((SAKER_NSLOTS + 63) / 64)
/* Falco's evt.type name -> slot; -ENOENT when saker has no such event. */
int saker_fields_evttype_slot(const char *name);
/* Slot -> name; NULL for unnamed syscall ids. */
const char *saker_fields_slot_name(unsigned slot);
/*
 * The slot a decoded event is matched in, or -1 when rules do not see it:
 * fork records (the clone exits carry Falco's clone events) and successful
 * execve/execveat exits (the sched_process_exec record, which carries the new
 * image, is the execve event rules see).
 */
int saker_fields_event_slot(const struct saker_event *ev);

/* One extracted value; strings are not NUL-terminated in general. */
struct saker_fval {
	union {
		int64_t i;
		uint64_t u;
		struct {
			const char *p;
			uint32_t n;
		} s;
		struct {
			uint8_t a[16];
			uint8_t v6;
		} ip;
	};
};

#define SAKER_FIELD_MAX_VALUES 32

/* A field with its argument, resolved once. */
struct saker_field_row;

struct saker_finst {
	const struct saker_field_info *info;
	const struct saker_field_row *row; /* its class's row (rules/fields_class.h) */
	unsigned id;			   /* index among the engine's instances (cache slot) */
	int sel;			   /* the row's sel, for its extractor */
	int64_t idx;			   /* [n] argument, -1 = none */
	char *arg;			   /* text argument (evt.arg.<name>), owned */
	char *name;			   /* the full name as written: "proc.aname[2]", owned */
	enum saker_ftype type;		   /* evt.rawarg.* get theirs from the argument */
	uint8_t *argmap; /* evt.arg.*: per event class, 1 + index of the argument, 0 = none */
};

struct saker_fcache {
	uint64_t gen;
	int n; /* values, 0 = missing */
	struct saker_fval v1;
	struct saker_fval *vals; /* &v1, or in the arena */
};

struct saker_fctx_names; /* uid/gid -> name tables */

#define SAKER_FCTX_ARENA 65536

/* Per-engine extraction state; the caches are per instance. */
struct saker_fctx {
	const struct saker_event *ev;
	struct saker_view *view;
	int slot; /* saker_fields_event_slot() of ev */
	uint64_t gen;
	uint64_t evtnum;
	uint64_t boot_offset_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME */
	char hostname[256];
	/* lazily resolved for the current event */
	bool proc_done, fd_done;
	const struct saker_proc *proc;
	const struct saker_fd *fd;
	int64_t fdnum;	   /* the event's descriptor, -1 when failed, INT64_MIN = none */
	bool fd_from_path; /* an open: fd.name from the path argument when the table has none */
	unsigned nanc;	   /* ancestors resolved in anc[], anc[0] = the process */
	bool anc_done;
	const struct saker_proc *anc[SAKER_FIELD_MAX_VALUES + 1];
	struct saker_fcache *cache;
	size_t ncache;
	struct saker_fctx_names *names;
	size_t used;
	char arena[SAKER_FCTX_ARENA];
};

/*
 * Resolves a field name as written in a condition or output ("proc.aname",
 * "evt.arg.flags"; arg is what was in brackets, or NULL). 0, or -ENOENT (a
 * field saker does not support: Falco's, or a plugin's; why says which),
 * -ESRCH (a name neither saker nor Falco has: a typo), -EINVAL (bad
 * argument: why says what). The instance's strings are owned by it.
 */
/* A field of Falco's libsinsp that saker does not implement (proc.vpid, evt.buffer, ...). */
bool saker_fields_falco_has(const char *field);

int saker_finst_init(struct saker_finst *fi, const char *field, const char *arg, char *why,
		     size_t whylen);
void saker_finst_clear(struct saker_finst *fi);

/*
 * A rough relative cost of extracting the instance (1 = a header field; a
 * walk over every ancestor is the dearest), for ordering checks.
 */
unsigned saker_finst_cost(const struct saker_finst *fi);

int saker_fctx_init(struct saker_fctx *c, size_t ninst);
void saker_fctx_destroy(struct saker_fctx *c);
/* Reads the user and group names from root/etc/passwd and root/etc/group (root NULL = "/"). */
int saker_fctx_load_names(struct saker_fctx *c, const char *root);
/* Starts a new event: previous values are forgotten. */
void saker_fctx_begin(struct saker_fctx *c, const struct saker_event *ev, struct saker_view *view);

/*
 * The instance's values for the current event (cached): the count (0 =
 * missing) and *out pointing at them, valid until the next begin.
 */
int saker_fields_extract(struct saker_fctx *c, const struct saker_finst *fi,
			 const struct saker_fval **out);

/* Renders value v of type t as text into buf (NUL-terminated, cut to size). */
void saker_fval_format(enum saker_ftype t, const struct saker_fval *v, char *buf, size_t size);

#endif
