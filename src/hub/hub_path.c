/*
 * Remote file names are hostile: a tree listing could name "../../.bashrc",
 * "/etc/passwd" or "a\\..\\b". Every name is checked here before any path is
 * built from it, once per listed file.
 */
#include <string.h>

#include "hub/hub_internal.h"
#include "util/error.h"

int pf_hub_path_check(const char *path, size_t len)
{
	size_t seg_start = 0;
	if (!path || len == 0 || len > 4096)
		goto bad;
	if (path[0] == '/')
		goto bad;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)path[i] : '/';
		if (i < len && (c == '\0' || c == '\\' || c < 0x20 || c == 0x7f))
			goto bad;
		if (c == '/') {
			size_t seg = i - seg_start;
			if (seg == 0 || (seg == 1 && path[seg_start] == '.') ||
			    (seg == 2 && path[seg_start] == '.' && path[seg_start + 1] == '.'))
				goto bad;
			seg_start = i + 1;
		}
	}
	/* "C:" drive forms */
	if (len >= 2 && path[1] == ':')
		goto bad;
	return 0;
bad : {
	char shown[201];
	size_t n = path ? (len > 200 ? 200 : len) : 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];
		shown[i] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
	}
	shown[n] = '\0';
	return pf_error_code(
	    PF_EINVALID,
	    "the repo lists a file name that would escape the cache folder (\"%s\"): refusing to download it", shown);
}
}
