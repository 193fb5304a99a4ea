/*
 * --dry-run: the configuration written back as YAML, in table order, that
 * loads back to the same configuration.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

static int emit(yaml_emitter_t *em, yaml_event_t *ev, int init_ok)
{
	/* yaml_emitter_emit frees the event even when it fails */
	if (!init_ok || !yaml_emitter_emit(em, ev))
		return -EIO;
	return 0;
}

static int emit_scalar(yaml_emitter_t *em, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	int ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1,
					      1, style);

	/* initialisation fails on invalid UTF-8, which YAML cannot carry */
	return ok ? emit(em, &ev, 1) : -EILSEQ;
}

/* Escapes ${ as $${ so that loading the dump does not expand variables again. */
char *cfg_escape_env(const char *s)
{
	size_t n = 0;
	char *out, *o;

	for (const char *p = s; *p; p++)
		n += (p[0] == '$' && p[1] == '{') ? 2 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		if (p[0] == '$' && p[1] == '{')
			*o++ = '$';
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

static int emit_string(yaml_emitter_t *em, const char *s)
{
	char *esc = cfg_escape_env(s ? s : "");
	int ret;

	if (!esc)
		return -ENOMEM;
	ret = emit_scalar(em, esc, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	free(esc);
	return ret;
}

/* Shortest text that reads back as the same double. */
static void format_double(double d, char *buf, size_t len)
{
	/* %g would write 10 as 1e+01 */
	if (d == floor(d) && fabs(d) < 1e15) {
		snprintf(buf, len, "%.0f", d);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

static int emit_mapping_start(yaml_emitter_t *em)
{
	yaml_event_t ev;

	return emit(
	    em, &ev,
	    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

static int emit_mapping_end(yaml_emitter_t *em)
{
	yaml_event_t ev;

	return emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
}

static int emit_flow_map(yaml_emitter_t *em)
{
	yaml_event_t ev;

	return emit(
	    em, &ev,
	    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_MAPPING_STYLE));
}

static int emit_seq(yaml_emitter_t *em, bool start)
{
	yaml_event_t ev;

	if (!start)
		return emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
	return emit(
	    em, &ev,
	    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE));
}

static int emit_kv(yaml_emitter_t *em, const char *k, const char *v)
{
	int ret = emit_scalar(em, k, YAML_PLAIN_SCALAR_STYLE);

	return ret ? ret : emit_string(em, v);
}

/* rules: items, Falco's shape: {enable: {rule: R, tag: T}}. */
static int emit_rulesel(yaml_emitter_t *em, const rulesel_list *l)
{
	int ret = 0;

	for (size_t i = 0; i < l->n && !ret; i++) {
		ret = emit_flow_map(em);
		if (!ret)
			ret = emit_scalar(em, l->v[i].enable ? "enable" : "disable",
					  YAML_PLAIN_SCALAR_STYLE);
		if (!ret)
			ret = emit_flow_map(em);
		if (!ret && l->v[i].rule)
			ret = emit_kv(em, "rule", l->v[i].rule);
		if (!ret && l->v[i].tag)
			ret = emit_kv(em, "tag", l->v[i].tag);
		if (!ret)
			ret = emit_mapping_end(em);
		if (!ret)
			ret = emit_mapping_end(em);
	}
	return ret;
}

/* An append_output item's match: {source, rule, tags}. */
static int emit_match(yaml_emitter_t *em, const struct saker_append *a)
{
	int ret = emit_scalar(em, "match", YAML_PLAIN_SCALAR_STYLE);

	if (!ret)
		ret = emit_flow_map(em);
	if (!ret && a->source)
		ret = emit_kv(em, "source", a->source);
	if (!ret && a->rule)
		ret = emit_kv(em, "rule", a->rule);
	if (!ret && a->tags.n) {
		ret = emit_scalar(em, "tags", YAML_PLAIN_SCALAR_STYLE);
		if (!ret)
			ret = emit_seq(em, true);
		for (size_t j = 0; j < a->tags.n && !ret; j++)
			ret = emit_string(em, a->tags.v[j]);
		if (!ret)
			ret = emit_seq(em, false);
	}
	if (!ret)
		ret = emit_mapping_end(em);
	return ret;
}

/* extra_fields: names, or {name: value}. */
static int emit_fields(yaml_emitter_t *em, const struct saker_append *a)
{
	int ret = emit_scalar(em, "extra_fields", YAML_PLAIN_SCALAR_STYLE);

	if (!ret)
		ret = emit_seq(em, true);
	for (size_t j = 0; j < a->n_fields && !ret; j++) {
		const struct saker_append_field *f = &a->fields[j];

		if (!f->value) {
			ret = emit_string(em, f->key);
			continue;
		}
		ret = emit_flow_map(em);
		if (!ret)
			ret = emit_string(em, f->key);
		if (!ret)
			ret = emit_string(em, f->value);
		if (!ret)
			ret = emit_mapping_end(em);
	}
	if (!ret)
		ret = emit_seq(em, false);
	return ret;
}

static int emit_append(yaml_emitter_t *em, const append_list *l)
{
	int ret = 0;

	for (size_t i = 0; i < l->n && !ret; i++) {
		const struct saker_append *a = &l->v[i];

		ret = emit_flow_map(em);
		if (!ret)
			ret = emit_match(em, a);
		if (!ret && a->extra_output)
			ret = emit_kv(em, "extra_output", a->extra_output);
		if (!ret && a->suggested_output)
			ret = emit_kv(em, "suggested_output", "true");
		if (!ret && a->n_fields)
			ret = emit_fields(em, a);
		if (!ret)
			ret = emit_mapping_end(em);
	}
	return ret;
}

/* rules: and append_output: in Falco's shape, flow style (one line each). */
static int emit_records(yaml_emitter_t *em, const struct opt *o, const void *p)
{
	int ret = emit_seq(em, true);

	if (!ret)
		ret = o->type == OPT_RULESEL ? emit_rulesel(em, p) : emit_append(em, p);
	if (!ret)
		ret = emit_seq(em, false);
	return ret;
}

static int emit_value(yaml_emitter_t *em, const struct saker_config *cfg, const struct opt *o)
{
	const void *p = cslot(cfg, o);
	char buf[64];
	yaml_event_t ev;
	int ret = 0;

	switch (o->type) {
	case OPT_BOOL:
		return emit_scalar(em, *(const bool *)p ? "true" : "false",
				   YAML_PLAIN_SCALAR_STYLE);
	case OPT_U64:
		snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)p);
		return emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE);
	case OPT_DOUBLE:
		format_double(*(const double *)p, buf, sizeof(buf));
		return emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE);
	case OPT_PRIO:
		/* "info" as etc/saker.yaml writes it, rather than "informational" */
		snprintf(buf, sizeof(buf), "%s",
			 *(const enum saker_prio *)p == SAKER_PRIO_INFO
			     ? "info"
			     : saker_prio_name(*(const enum saker_prio *)p));
		for (char *q = buf; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		return emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE);
	case OPT_STRING:
		return emit_string(em, *(char *const *)p);
	case OPT_ACTIONS:
	case OPT_STRLIST:
		ret = emit(em, &ev,
			   yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
								YAML_FLOW_SEQUENCE_STYLE));
		if (o->type == OPT_ACTIONS) {
			const struct saker_drops_config *d = p;

			for (size_t i = 0; i < d->n_actions && !ret; i++)
				ret = emit_scalar(em, saker_drop_action_name(d->actions[i]),
						  YAML_PLAIN_SCALAR_STYLE);
		} else {
			const struct saker_strlist *l = p;

			for (size_t i = 0; i < l->n && !ret; i++)
				ret = emit_string(em, l->v[i]);
		}
		if (!ret)
			ret = emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
		return ret;
	case OPT_RULESEL:
	case OPT_APPEND:
		return emit_records(em, o, p);
	case OPT_UNSUPPORTED:
		break;
	}
	return 0;
}

static int emit_name(yaml_emitter_t *em, const char *s, size_t len)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.*s", (int)len, s);
	return emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE);
}

#define MAX_DEPTH 4

/* Splits "a.b.c" into components; returns how many. */
static size_t split_key(const char *key, const char *comp[MAX_DEPTH], size_t clen[MAX_DEPTH])
{
	size_t n = 0;

	while (n < MAX_DEPTH) {
		const char *dot = strchr(key, '.');

		comp[n] = key;
		clen[n] = dot ? (size_t)(dot - key) : strlen(key);
		n++;
		if (!dot)
			break;
		key = dot + 1;
	}
	return n;
}

static int dump_body(yaml_emitter_t *em, const struct saker_config *cfg)
{
	const char *open[MAX_DEPTH], *comp[MAX_DEPTH];
	size_t openlen[MAX_DEPTH], clen[MAX_DEPTH];
	size_t depth = 0;
	int ret = emit_mapping_start(em);

	for (size_t i = 0; i < cfg_n_opts && !ret; i++) {
		const struct opt *o = &cfg_opts[i];
		size_t n, common = 0;

		if (o->type == OPT_UNSUPPORTED)
			continue;
		n = split_key(o->key, comp, clen);
		while (common < depth && common < n - 1 && openlen[common] == clen[common] &&
		       memcmp(open[common], comp[common], clen[common]) == 0)
			common++;
		for (; depth > common && !ret; depth--)
			ret = emit_mapping_end(em);
		for (; depth < n - 1 && !ret; depth++) {
			open[depth] = comp[depth];
			openlen[depth] = clen[depth];
			ret = emit_name(em, comp[depth], clen[depth]);
			if (!ret)
				ret = emit_mapping_start(em);
		}
		if (!ret)
			ret = emit_name(em, comp[n - 1], clen[n - 1]);
		if (!ret)
			ret = emit_value(em, cfg, o);
	}
	for (; depth > 0 && !ret; depth--)
		ret = emit_mapping_end(em);
	if (!ret)
		ret = emit_mapping_end(em);
	return ret;
}

int saker_config_dump(const struct saker_config *cfg, FILE *out)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	int ret;

	if (!yaml_emitter_initialize(&em))
		return -ENOMEM;
	yaml_emitter_set_output_file(&em, out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1); /* never fold long strings */
	yaml_emitter_set_indent(&em, 2);
	ret = emit(&em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	if (!ret)
		ret =
		    emit(&em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	if (!ret)
		ret = dump_body(&em, cfg);
	if (!ret)
		ret = emit(&em, &ev, yaml_document_end_event_initialize(&ev, 1));
	if (!ret)
		ret = emit(&em, &ev, yaml_stream_end_event_initialize(&ev));
	if (!ret && !yaml_emitter_flush(&em))
		ret = -EIO;
	yaml_emitter_delete(&em);
	if (!ret && fflush(out))
		ret = -errno;
	return ret;
}
