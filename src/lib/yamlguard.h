/*
 * YAML guard: what every YAML loader does before it lets libyaml build a
 * document, how it words libyaml's failures, and the loading itself
 * (saker_yaml_read_file, saker_yaml_load), which the configuration and the
 * rules share. libyaml's scanner spends
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

/*
 * The first document of src into doc: the depth check, then libyaml. On
 * success the caller deletes doc, then p (left after the first document, for
 * a caller that looks for another); on failure nothing is left to delete.
 * 0; -EINVAL with err as above (name:line:col: what); -ENOMEM.
 */
int saker_yaml_load(const struct saker_yaml_src *src, unsigned max_depth, yaml_parser_t *p,
		    yaml_document_t *doc, char *err, size_t errlen);

/*
 * A YAML file's text, at most max bytes (lib/readfile.h): 0 with *buf
 * (NUL-terminated, free() it), or the negative errno with "path: cannot
 * read: why" in err.
 */
int saker_yaml_read_file(const char *path, size_t max, char **buf, size_t *len, char *err,
			 size_t errlen);

#endif
