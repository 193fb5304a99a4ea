#include "lib/yamlguard.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/errbuf.h"
#include "lib/readfile.h"

static const char *src_name(const struct saker_yaml_src *src)
{
	return src->name ? src->name : "<yaml>";
}

__attribute__((format(printf, 5, 6))) static int fail(const struct saker_yaml_src *src,
						      const yaml_mark_t *m, char *err,
						      size_t errlen, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!err || !errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (src->positions && m)
		snprintf(err, errlen, "%s:%zu:%zu: %s", src_name(src), m->line + 1, m->column + 1,
			 msg);
	else
		snprintf(err, errlen, "%s: %s", src_name(src), msg);
	return -EINVAL;
}

/* libyaml's reader errors carry a byte offset, not a mark. */
static void offset_to_mark(const struct saker_yaml_src *src, size_t off, yaml_mark_t *m)
{
	m->line = 0;
	m->column = 0;
	for (size_t i = 0; i < off && i < src->len; i++) {
		if (src->buf[i] == '\n') {
			m->line++;
			m->column = 0;
		} else {
			m->column++;
		}
	}
}

int saker_yaml_parser_error(const struct saker_yaml_src *src, const yaml_parser_t *p, char *err,
			    size_t errlen)
{
	yaml_mark_t m = p->problem_mark;
	const char *problem = p->problem ? p->problem : "syntax error";

	if (p->error == YAML_MEMORY_ERROR) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", src_name(src));
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR)
		offset_to_mark(src, p->problem_offset, &m);
	if (p->context && strstr(p->context, "scanning a tag"))
		/* [read, !close]: YAML reads !close as a tag */
		return fail(src, &m, err, errlen,
			    "%s (a value starting with '!' is a YAML tag: quote it, as in "
			    "\"!close\")",
			    problem);
	if (p->context)
		return fail(src, &m, err, errlen, "%s (%s at line %zu)", problem, p->context,
			    p->context_mark.line + 1);
	return fail(src, &m, err, errlen, "%s", problem);
}

int saker_yaml_check_depth(const struct saker_yaml_src *src, unsigned max_depth, char *err,
			   size_t errlen)
{
	yaml_parser_t p;
	yaml_event_t ev;
	unsigned depth = 0;
	int ret = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!src->buf && src->len)
		return fail(src, NULL, err, errlen, "no data");
	if (!yaml_parser_initialize(&p)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", src_name(src));
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)(src->buf ? src->buf : ""),
				     src->len);
	for (;;) {
		yaml_event_type_t type;

		if (!yaml_parser_parse(&p, &ev)) {
			ret = saker_yaml_parser_error(src, &p, err, errlen);
			break;
		}
		type = ev.type;
		if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
			if (++depth > max_depth)
				ret = fail(src, &ev.start_mark, err, errlen,
					   "nesting deeper than %u levels", max_depth);
		} else if ((type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) &&
			   depth) {
			depth--;
		}
		yaml_event_delete(&ev);
		if (ret || type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p);
	return ret;
}

int saker_yaml_load(const struct saker_yaml_src *src, unsigned max_depth, yaml_parser_t *p,
		    yaml_document_t *doc, char *err, size_t errlen)
{
	int ret = saker_yaml_check_depth(src, max_depth, err, errlen);

	if (ret)
		return ret;
	if (!yaml_parser_initialize(p)) {
		saker_set_err(err, errlen, "%s: out of memory", src_name(src));
		return -ENOMEM;
	}
	yaml_parser_set_input_string(p, (const unsigned char *)(src->buf ? src->buf : ""),
				     src->len);
	if (!yaml_parser_load(p, doc)) {
		ret = saker_yaml_parser_error(src, p, err, errlen);
		yaml_parser_delete(p);
		return ret;
	}
	return 0;
}

int saker_yaml_read_file(const char *path, size_t max, char **buf, size_t *len, char *err,
			 size_t errlen)
{
	int ret = saker_readfile(path, max, buf, len);

	if (ret)
		saker_set_err(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
	return ret;
}
