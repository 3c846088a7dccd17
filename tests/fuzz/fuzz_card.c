/*
 * libFuzzer target for the model card `pteflow publish` writes from a
 * manifest (pf_publish_card): any bytes must give an error or a card that
 * starts with YAML front matter, never an out-of-bounds read, unbounded
 * recursion or a leak; manifest strings never break out of the front matter
 * (no raw line break inside a quoted tag).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "publish/publish.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *card = NULL;
	if (pf_publish_card(&card, (const char *)data, size) == 0) {
		const char *end;
		if (strncmp(card, "---\nlibrary_name: executorch\n", 29) != 0 || !(end = strstr(card + 4, "\n---\n")))
			abort();
		for (const char *p = card + 4; p < end; p++) /* front matter lines: keys or "- " list items */
			if (p[-1] == '\n' && !(*p == '-' || (*p >= 'a' && *p <= 'z')))
				abort();
		free(card);
	}
	return 0;
}
