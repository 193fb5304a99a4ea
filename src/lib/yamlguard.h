/*
 * YAML guard: what every YAML loader does before it lets libyaml build a
 * document, and how it words libyaml's failures. libyaml's scanner spends
 * O(depth) per token, so nesting makes parsing quadratic (a 400 KB file of
 * '[' takes minutes); the depth check walks the event stream, which costs
 * no document, and refuses deep input at the first collection too many.
 *
 * Messages are "name:line:col: what is wrong" (1-based), or "name: what"
 * when src->positions is false (a one-line -o key=value, whose positions
 * would only confuse).
 */
#ifndef SAKER_YAMLGUARD_H
#define SAKER_YAMLGUARD_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

struct saker_yaml_src {
	const char *name; /* file name or what stands for it; NULL = "<yaml>" */
	const char *buf;  /* the text (need not be NUL-terminated); NULL only with len 0 */
	size_t len;
	bool positions; /* prefix messages with line:col */
};

/*
 * Walks src and refuses collections (sequences, mappings) nested deeper than
 * max_depth. 0; -EINVAL with the position of the first collection too deep
 * ("nesting deeper than N levels") or of the first syntax error; -ENOMEM.
 */
int saker_yaml_check_depth(const struct saker_yaml_src *src, unsigned max_depth, char *err,
			   size_t errlen);

/*
 * Words the failure of p (after yaml_parser_parse or _load returned 0) over
 * src. A reader error (bad UTF-8) has a byte offset, not a mark: its
 * line:col is counted from src. Returns -ENOMEM for a memory error, else
 * -EINVAL.
 */
int saker_yaml_parser_error(const struct saker_yaml_src *src, const yaml_parser_t *p, char *err,
			    size_t errlen);

#endif
