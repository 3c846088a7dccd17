/*
 * YAML bytes to a position-carrying tree for the pipeline parser (tree.h).
 * The input is a pipeline file: small (bounded to 1 MiB before we get here)
 * and possibly hostile, so the bytes are checked first (UTF-8, characters
 * YAML refuses, no tab in indentation) to give a precise position, then
 * libyaml's event parser builds the tree under bounds on depth, node count
 * and collection size.
 * Anchors, aliases and tags are refused outright: a pipeline never needs
 * them and aliases are how a "billion laughs" file blows up memory.
 */
#include "pipeline/tree.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/error.h"
#include "util/mem.h"

typedef struct builder {
	pl_node *stack[PL_MAX_DEPTH + 2];
	size_t depth;
	size_t n_nodes;
	pl_node *root;
	pf_pos err_pos;
	char *err_msg;
} builder;

static pf_pos mark_pos(yaml_mark_t m)
{
	pf_pos p;
	p.line = m.line < INT32_MAX ? (int)m.line + 1 : INT32_MAX;
	p.col = m.column < INT32_MAX ? (int)m.column + 1 : INT32_MAX;
	return p;
}

static int fail_at(builder *b, pf_pos pos, char *msg)
{
	b->err_pos = pos;
	b->err_msg = msg;
	return PF_EINVALID;
}

void pl_tree_free(pl_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++)
		pl_tree_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

/* Length of the UTF-8 sequence at p (1..4) and its code point in *out, or 0 if it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *p, size_t avail, uint32_t *out)
{
	unsigned c = p[0];
	size_t n;
	uint32_t cp;
	*out = c;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*out = cp;
	return n;
}

/* What libyaml's reader refuses (YAML 1.1 printable set): C0 but tab and breaks, DEL, C1 but NEL, FFFE, FFFF. */
static bool refused_char(uint32_t cp)
{
	return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || (cp >= 0x7f && cp <= 0x9f && cp != 0x85) ||
	       cp == 0xfffe || cp == 0xffff;
}

/* A line break as libyaml counts lines: LF, CR (CR LF is one), NEL, LS, PS. */
static bool is_break(uint32_t cp, const unsigned char *next, size_t avail)
{
	if (cp == '\r')
		return !(avail > 0 && next[0] == '\n');
	return cp == '\n' || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

/*
 * One pass over the bytes: UTF-8 validity, characters YAML does not allow,
 * and tabs in indentation, each with the line and column (in characters)
 * where it occurs, counted as libyaml counts them so both agree.
 */
static int check_bytes(builder *b, const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	pf_pos pos = {1, 1};
	bool line_start = true;
	pf_pos tab = {0, 0};
	size_t i = 0;
	if (len >= 2 && ((p[0] == 0xfe && p[1] == 0xff) || (p[0] == 0xff && p[1] == 0xfe)))
		return fail_at(b, pos,
		               pf_xstrdup("the file is UTF-16 (it starts with a UTF-16 byte order mark), "
		                          "not UTF-8: save it as UTF-8"));
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_len(p + i, len - i, &cp);
		if (n == 0)
			return fail_at(b, pos,
			               pf_xasprintf("the file is not valid UTF-8 (byte 0x%02x at offset %zu): "
			                            "save it as UTF-8",
			                            p[i], i));
		if (cp == 0)
			return fail_at(b, pos, pf_xstrdup("NUL byte (\\0) in the file: remove it; a pipeline is text"));
		if (refused_char(cp))
			return fail_at(b, pos,
			               pf_xasprintf("control character U+%04X is not allowed in YAML: remove it, or "
			                            "write it as the escape \\u%04X inside double quotes",
			                            (unsigned)cp, (unsigned)cp));
		if (is_break(cp, p + i + n, len - i - n)) {
			pos.line++;
			pos.col = 1;
			line_start = true;
			tab.line = 0;
			i += n;
			continue;
		}
		if (line_start) {
			if (p[i] == '\t' && tab.line == 0)
				tab = pos;
			if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') {
				if (tab.line != 0 && p[i] != '#')
					return fail_at(b, tab,
					               pf_xstrdup("tab character in indentation: YAML indents with "
					                          "spaces only; replace the tab with spaces"));
				line_start = false;
			}
		}
		pos.col++;
		i += n;
	}
	return 0;
}

static pl_node *node_new(pl_ntype type, yaml_mark_t m)
{
	pl_node *n = pf_xcalloc(1, sizeof(*n));
	n->type = type;
	n->pos = mark_pos(m);
	return n;
}

static int attach(builder *b, pl_node *n)
{
	pl_node *parent;
	if (++b->n_nodes > PL_MAX_NODES) {
		pf_pos pos = n->pos;
		pl_tree_free(n);
		return fail_at(b, pos,
		               pf_xasprintf("too many YAML nodes (more than %d): a pipeline is a small file; "
		                            "split it",
		                            PL_MAX_NODES));
	}
	if (b->depth == 0) {
		if (b->root) {
			pf_pos pos = n->pos;
			pl_tree_free(n);
			return fail_at(b, pos,
			               pf_xstrdup("more than one YAML document: a pipeline file holds "
			                          "exactly one"));
		}
		b->root = n;
		return 0;
	}
	parent = b->stack[b->depth - 1];
	if (parent->n_kids >= (parent->type == PL_MAP ? 2 * (size_t)PL_MAX_ITEMS : (size_t)PL_MAX_ITEMS)) {
		pf_pos pos = n->pos;
		pl_tree_free(n);
		return fail_at(b, pos,
		               pf_xasprintf("more than %d entries in one list or mapping: a pipeline "
		                            "never needs that many",
		                            PL_MAX_ITEMS));
	}
	if (parent->type == PL_MAP && parent->n_kids % 2 == 0 && n->type != PL_SCALAR) {
		pf_pos pos = n->pos;
		pl_tree_free(n);
		return fail_at(b, pos,
		               pf_xstrdup("a mapping key must be plain text, not a list or mapping: "
		                          "write key: value"));
	}
	if (parent->n_kids == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 4;
		parent->kids = pf_xreallocarray(parent->kids, parent->cap, sizeof(*parent->kids));
	}
	parent->kids[parent->n_kids++] = n;
	return 0;
}

/* libyaml reports the non-specific tag "!" as implicit: any tag written in the file is refused. */
static int refuse_decorations(builder *b, const yaml_event_t *ev, const yaml_char_t *anchor, const yaml_char_t *tag)
{
	pf_pos pos = mark_pos(ev->start_mark);
	if (anchor)
		return fail_at(b, pos,
		               pf_xasprintf("anchor \"&%s\" is not supported: pipelines refuse anchors and "
		                            "aliases (they can blow up memory); write the value out",
		                            (const char *)anchor));
	if (tag)
		return fail_at(b, pos,
		               pf_xasprintf("tag \"%s\" is not supported: remove it (quote the value if you "
		                            "want text)",
		                            (const char *)tag));
	return 0;
}

static int on_scalar(builder *b, const yaml_event_t *ev)
{
	pl_node *n;
	int rc;
	const char *val = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	rc = refuse_decorations(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
	if (rc < 0)
		return rc;
	if (memchr(val, '\0', len))
		return fail_at(b, mark_pos(ev->start_mark),
		               pf_xstrdup("the value contains a NUL character (\\0): remove it"));
	n = node_new(PL_SCALAR, ev->start_mark);
	n->text = pf_xstrndup(val, len);
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return attach(b, n);
}

static int on_start(builder *b, const yaml_event_t *ev, pl_ntype type)
{
	pl_node *n;
	int rc;
	if (type == PL_MAP)
		rc = refuse_decorations(b, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
	else
		rc = refuse_decorations(b, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
	if (rc < 0)
		return rc;
	if (b->depth >= PL_MAX_DEPTH)
		return fail_at(b, mark_pos(ev->start_mark),
		               pf_xasprintf("nesting deeper than %d levels: a pipeline is never that deep; "
		                            "flatten the file",
		                            PL_MAX_DEPTH));
	n = node_new(type, ev->start_mark);
	if ((rc = attach(b, n)) < 0)
		return rc;
	b->stack[b->depth++] = n;
	return 0;
}

static int on_event(builder *b, const yaml_event_t *ev, bool *done)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		*done = true;
		return 0;
	case YAML_ALIAS_EVENT:
		return fail_at(b, mark_pos(ev->start_mark),
		               pf_xasprintf("alias \"*%s\" is not supported: pipelines refuse anchors and aliases "
		                            "(they can blow up memory); write the value out",
		                            (const char *)ev->data.alias.anchor));
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(b, ev, PL_SEQ);
	case YAML_MAPPING_START_EVENT:
		return on_start(b, ev, PL_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0)
			b->depth--;
		return 0;
	default:
		return 0;
	}
}

/* What to do about libyaml's most common complaints; its own text says only what is wrong. */
static const char *syntax_hint(const char *problem, const char *context)
{
	static const struct {
		const char *problem;
		const char *hint;
	} hints[] = {
	    {"mapping values are not allowed in this context",
	     "put the value in quotes if it contains \": \", or check the indentation"},
	    {"found character that cannot start any token",
	     "put the value in quotes (a plain value cannot start with @, ` or %)"},
	    {"found unexpected ':'", "put the value in quotes"},
	    {"did not find expected ',' or ']'", "close it with ']' and separate items with ','"},
	    {"did not find expected ',' or '}'", "close it with '}' and separate entries with ','"},
	    {"did not find expected key", "check the indentation: the keys of one mapping start in the same column"},
	    {"did not find expected '-' indicator",
	     "check the indentation: the items of one list start with '-' in the same column"},
	    {"block sequence entries are not allowed in this context",
	     "start the list on the line after its key, or check the indentation"},
	    {"could not find expected ':'", "write \"key: value\" (a key is at most 1024 characters on one line)"},
	    {"did not find expected node content",
	     "a value is missing or a bracket is not closed: give the value or close the bracket"},
	    {"found unknown escape character", "in double quotes write a backslash as \\\\, or use single quotes"},
	    {"found incompatible YAML document", "remove the %YAML line (pipelines are YAML 1.1)"},
	    {"found undefined tag handle", "remove the tag"},
	    {"found a tab character that violates indentation", "replace the tab with spaces"},
	    {"found a tab character where an indentation space is expected", "replace the tab with spaces"},
	};
	if (context && !strcmp(context, "while scanning a quoted scalar"))
		return "close the quote (or escape the quote character inside)";
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (!strcmp(problem, hints[i].problem))
			return hints[i].hint;
	return "fix the syntax";
}

static int yaml_failure(builder *b, const yaml_parser_t *parser)
{
	pf_pos pos = mark_pos(parser->problem_mark);
	const char *problem = parser->problem ? parser->problem : "unknown problem";
	if (parser->error == YAML_READER_ERROR || parser->error == YAML_MEMORY_ERROR) {
		pos.line = 1;
		pos.col = 1;
	}
	if (parser->context)
		return fail_at(b, pos,
		               pf_xasprintf("invalid YAML: %s (%s at line %d, column %d): %s", problem, parser->context,
		                            mark_pos(parser->context_mark).line, mark_pos(parser->context_mark).col,
		                            syntax_hint(problem, parser->context)));
	return fail_at(b, pos, pf_xasprintf("invalid YAML: %s: %s", problem, syntax_hint(problem, NULL)));
}

int pl_tree_parse(pl_node **out, const char *data, size_t len, pf_pos *err_pos, char **err_msg)
{
	builder b;
	yaml_parser_t parser;
	bool parser_ready = false, done = false;
	int rc;
	memset(&b, 0, sizeof(b));
	*out = NULL;
	/* A UTF-8 byte order mark (Windows editors write one) is no column: with the encoding set, libyaml
	 * would count it as one and read the first line as indented */
	if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) {
		data += 3;
		len -= 3;
	}
	if ((rc = check_bytes(&b, data, len)) < 0)
		goto done;
	if (!yaml_parser_initialize(&parser)) {
		rc = fail_at(&b, (pf_pos){1, 1}, pf_xstrdup("cannot start the YAML parser: out of memory"));
		goto done;
	}
	parser_ready = true;
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_failure(&b, &parser);
			goto done;
		}
		rc = on_event(&b, &ev, &done);
		yaml_event_delete(&ev);
		if (rc < 0)
			goto done;
	}
	*out = b.root;
	b.root = NULL;
done:
	if (parser_ready)
		yaml_parser_delete(&parser);
	pl_tree_free(b.root);
	if (rc < 0) {
		*err_pos = b.err_pos;
		*err_msg = b.err_msg;
	}
	return rc;
}
