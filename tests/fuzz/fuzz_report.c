/*
 * libFuzzer target for `pteflow report` over manifests that travel with
 * releases (untrusted): pf_report_render over arbitrary bytes must never
 * read out of bounds, recurse without bound or leak, and a page it writes
 * must hold no markup taken from the input: every tag is one the renderer
 * writes itself, and no tag has an event attribute ("on..."), so no string
 * of the manifest became a tag or an attribute. Seed corpus:
 * tests/fuzz/corpus/report/.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const known_tags[] = {"!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2",
                                         "h3", "table", "tr", "th", "td", "span", "p", "section", "svg", "rect",
                                         "line", "text", "polyline", "circle", "code", "div"};

/* The tag at p (just after '<'): known, and no attribute name starting "on"; returns the byte after '>'. */
static const char *check_tag(const char *p)
{
	char name[16];
	size_t n = 0;
	bool known = false, quoted = false;
	if (*p == '/')
		p++;
	while ((isalnum((unsigned char)*p) || *p == '!' || *p == '-') && n < sizeof(name) - 1)
		name[n++] = *p++;
	name[n] = '\0';
	for (size_t i = 0; i < sizeof(known_tags) / sizeof(known_tags[0]); i++)
		known = known || !strcmp(name, known_tags[i]);
	if (!known)
		abort(); /* a tag the renderer never writes */
	for (; *p && (quoted || *p != '>'); p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == ' ' && (p[1] == 'o' || p[1] == 'O') && (p[2] == 'n' || p[2] == 'N'))
			abort(); /* an event attribute */
	}
	return *p ? p + 1 : p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *page = NULL;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (pf_report_render(&page, text, size) == 0) {
		const char *p = page;
		/* the stylesheet holds no '<' */
		while ((p = strchr(p, '<')) != NULL)
			p = check_tag(p + 1);
	}
	free(page);
	free(text);
	return 0;
}
