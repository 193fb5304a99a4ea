/*
 * Node helpers for the loader: messages with name:line:col, warnings, the
 * alias budget, and scalars with ${VAR} expanded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"
#include "lib/errbuf.h"
#include "lib/yamlguard.h"

/* Quotes text for a one-line message: escapes quotes and control bytes, truncates. */
void cfg_quote(char *out, size_t outlen, const char *s, size_t len)
{
	size_t o = 0;

	if (outlen < 8) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o + 8 >= outlen || i >= MAX_QUOTED) {
			o += (size_t)snprintf(out + o, outlen - o, "...");
			break;
		}
		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	snprintf(out + o, outlen - o, "\"");
}

static void where(const struct load_ctx *c, const yaml_mark_t *m, char *buf, size_t len)
{
	if (c->positions && m)
		snprintf(buf, len, "%s:%zu:%zu", c->name, m->line + 1, m->column + 1);
	else
		snprintf(buf, len, "%s", c->name);
}

void cfg_msg_key(char *buf, size_t len, const char *key)
{
	cfg_quote(buf, len, key, strlen(key));
	/* keys are shown in single quotes, as in Falco's messages; drop the double quotes */
	size_t n = strlen(buf);

	if (n >= 2) {
		buf[0] = '\'';
		buf[n - 1] = '\'';
	}
}

__attribute__((format(printf, 4, 0))) static int vfail(struct load_ctx *c, const yaml_mark_t *m,
						       const char *key, const char *fmt, va_list ap)
{
	char pos[512], msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	where(c, m, pos, sizeof(pos));
	if (c->err && c->errlen) {
		if (key)
			snprintf(c->err, c->errlen, "%s: %s: %s", pos, key, msg);
		else
			snprintf(c->err, c->errlen, "%s: %s", pos, msg);
	}
	return -EINVAL;
}

/* Writes "name:line:col: key: message" for node n and returns -EINVAL. */
__attribute__((format(printf, 4, 5))) int cfg_fail(struct load_ctx *c, const yaml_node_t *n,
						   const char *key, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(c, n ? &n->start_mark : NULL, key, fmt, ap);
	va_end(ap);
	return ret;
}

__attribute__((format(printf, 3, 4))) int cfg_fail_at(struct load_ctx *c, const yaml_mark_t *m,
						      const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(c, m, NULL, fmt, ap);
	va_end(ap);
	return ret;
}

/* Charges one visited node; -EINVAL once aliases made the walk far longer than the document. */
int cfg_spend(struct load_ctx *c, const yaml_node_t *n)
{
	if (c->budget == 0)
		return cfg_fail_at(c, n ? &n->start_mark : NULL,
				   "aliases expand the document too much");
	c->budget--;
	return 0;
}

/* Twice the document's nodes, and some slack for a few small anchors. */
size_t cfg_walk_budget(const yaml_document_t *doc)
{
	return 2 * (size_t)(doc->nodes.top - doc->nodes.start) + 4096;
}

__attribute__((format(printf, 3, 4))) void cfg_warn(struct load_ctx *c, const yaml_node_t *n,
						    const char *fmt, ...)
{
	char pos[512], msg[512], line[1100];
	va_list ap;

	if (!c->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	where(c, n ? &n->start_mark : NULL, pos, sizeof(pos));
	snprintf(line, sizeof(line), "%s: %s", pos, msg);
	c->warn(c->warn_ctx, SAKER_PRIO_WARNING, line);
}

const char *cfg_node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

/* YAML's null: an empty or ~/null plain scalar (libyaml tags every scalar !!str by default). */
bool cfg_is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/*
 * ${VAR} expands from the environment (unset = empty); $${VAR} is a literal
 * ${VAR}. An unterminated ${ is kept as written. Returns NULL on ENOMEM.
 */
static char *expand_env(const char *s, size_t len)
{
	size_t cap = len + 1, o = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		const char *add = s + i;
		size_t addlen = 1, skip = 1;

		if (s[i] == '$' && i + 2 < len && s[i + 1] == '$' && s[i + 2] == '{') {
			add = s + i + 1;
			addlen = 2;
			skip = 3;
		} else if (s[i] == '$' && i + 1 < len && s[i + 1] == '{') {
			const char *end = memchr(s + i + 2, '}', len - i - 2);

			if (end) {
				char *name = strndup(s + i + 2, (size_t)(end - (s + i + 2)));

				if (!name) {
					free(out);
					return NULL;
				}
				add = getenv(name);
				free(name);
				if (!add)
					add = "";
				addlen = strlen(add);
				skip = (size_t)(end - (s + i)) + 1;
			}
		}
		if (o + addlen + 1 > cap) {
			char *bigger;

			cap = (o + addlen + 1) * 2;
			bigger = realloc(out, cap);
			if (!bigger) {
				free(out);
				return NULL;
			}
			out = bigger;
		}
		memcpy(out + o, add, addlen);
		o += addlen;
		i += skip;
	}
	out[o] = '\0';
	return out;
}

/* The expanded text of a scalar, malloc'd, or NULL with the error set. */
char *cfg_scalar_value(struct load_ctx *c, const yaml_node_t *n, const char *key, int *ret)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	char *out;

	if (memchr(v, '\0', len)) {
		*ret = cfg_fail(c, n, key, "value contains a NUL character");
		return NULL;
	}
	out = expand_env(v, len);
	if (!out) {
		cfg_fail(c, n, key, "out of memory");
		*ret = -ENOMEM;
	}
	return out;
}

int cfg_parser_fail(struct load_ctx *c, const yaml_parser_t *p, const char *buf, size_t len)
{
	const struct saker_yaml_src src = {
	    .name = c->name, .buf = buf, .len = len, .positions = c->positions};

	return saker_yaml_parser_error(&src, p, c->err, c->errlen);
}

int cfg_load_doc(struct load_ctx *c, const char *buf, size_t len, yaml_parser_t *p,
		 yaml_document_t *doc)
{
	const struct saker_yaml_src src = {
	    .name = c->name, .buf = buf, .len = len, .positions = c->positions};

	return saker_yaml_load(&src, MAX_NESTING, p, doc, c->err, c->errlen);
}

int cfg_oom(struct load_ctx *c)
{
	if (c->err && c->errlen && !c->err[0])
		saker_set_err(c->err, c->errlen, "%s: out of memory", c->name);
	return -ENOMEM;
}
