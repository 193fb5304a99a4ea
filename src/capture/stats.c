#include "capture/stats.h"

/* clang-format off */
static const char *const category_names[SAKER_CAT_MAX] = {
	[SAKER_CAT_OTHER] = "other",
	[SAKER_CAT_CLONE_FORK] = "clone_fork",
	[SAKER_CAT_EXECVE] = "execve",
	[SAKER_CAT_CONNECT] = "connect",
	[SAKER_CAT_OPEN] = "open",
	[SAKER_CAT_DIR_FILE] = "dir_file",
	[SAKER_CAT_OTHER_INTEREST] = "other_interest",
	[SAKER_CAT_CLOSE] = "close",
	[SAKER_CAT_PROC] = "proc",
};
/* clang-format on */

/* clang-format off */
static const char *const counter_names[SAKER_CNT_MAX] = {
	[SAKER_CNT_EVTS] = "n_evts",
	[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OTHER] = "n_drops_buffer_other_exit",
	[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_CLONE_FORK] = "n_drops_buffer_clone_fork_exit",
	[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_EXECVE] = "n_drops_buffer_execve_exit",
	[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_CONNECT] = "n_drops_buffer_connect_exit",
	[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OPEN] = "n_drops_buffer_open_exit",
	[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_DIR_FILE] = "n_drops_buffer_dir_file_exit",
	[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OTHER_INTEREST] =
		"n_drops_buffer_other_interest_exit",
	[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_CLOSE] = "n_drops_buffer_close_exit",
	[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_PROC] = "n_drops_buffer_proc_exit",
	[SAKER_CNT_DROPS_MAX_EVENT_SIZE] = "n_drops_max_event_size",
	[SAKER_CNT_PAGE_FAULTS] = "n_drops_page_faults",
};
/* clang-format on */

_Static_assert(SAKER_CAT_MAX == 9, "update category_names and counter_names");

const char *saker_counter_name(enum saker_counter c)
{
	if ((unsigned)c >= SAKER_CNT_MAX || !counter_names[c])
		return "n_unknown";
	return counter_names[c];
}

const char *saker_category_name(enum saker_category c)
{
	if ((unsigned)c >= SAKER_CAT_MAX)
		return "unknown";
	return category_names[c];
}
