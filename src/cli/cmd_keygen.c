/*
 * `pteflow keygen KEY.pem [--type ed25519|ecdsa-p256]`: make the key pair
 * that `run --sign-key` signs provenance with and `verify --key` checks it
 * with. The work is src/attest/; this file parses options and prints the id.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "cli/cli.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

const char pf_usage_keygen[] =
	"usage: pteflow keygen KEY.pem [--type ed25519|ecdsa-p256] [--json]\n\n"
	"Make a key pair for signing release provenance: KEY.pem, the private key\n"
	"(unencrypted PKCS#8 PEM, mode 0600: keep it in a CI secret), and KEY.pub.pem,\n"
	"the public key to publish and pass to 'pteflow verify --key'. Existing files are\n"
	"never overwritten. Prints the key id: the SHA-256 of the public key's DER\n"
	"SubjectPublicKeyInfo, which 'run --sign-key' writes as the keyid of its signature.\n\n"
	"arguments:\n"
	"  KEY.pem        where to write the private key (the public key goes to KEY.pub.pem)\n\n"
	"options:\n"
	"  --type T       ed25519 (default) or ecdsa-p256 (ECDSA on NIST P-256 with SHA-256)\n"
	"  --json         print {\"private_key\", \"public_key\", \"type\", \"keyid\"} instead\n"
	"  -h, --help     show this help\n\n"
	"exit codes:\n"
	"  0  the key pair was written\n"
	"  2  bad usage, or KEY.pem or KEY.pub.pem exists already\n"
	"  3  the files cannot be written\n\n"
	"example:\n"
	"  pteflow keygen release.pem && pteflow run pipelines/demo.yaml --sign-key release.pem\n"
	"  pteflow verify out/demo/manifest.json --provenance out/demo/provenance.intoto.jsonl \\\n"
	"      --key release.pub.pem\n";

/* KEY.pem -> KEY.pub.pem; any other name gets ".pub.pem" appended. */
static char *public_path_for(const char *private_path)
{
	size_t n = strlen(private_path);
	if (n > 4 && !strcmp(private_path + n - 4, ".pem"))
		return pf_xasprintf("%.*s.pub.pem", (int)(n - 4), private_path);
	return pf_xasprintf("%s.pub.pem", private_path);
}

int cmd_keygen(int argc, char **argv)
{
	const char *path = NULL;
	pf_key_type type = PF_KEY_ED25519;
	bool json = false;
	char keyid[65] = "", *pub = NULL;
	int rc, code;
	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("keygen");
	for (int i = 1; i < argc; i++) {
		const char *type_name = NULL;
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--type")) {
			if (++i >= argc)
				return pf_cli_usage_error("keygen", "--type needs ed25519 or ecdsa-p256");
			type_name = argv[i];
		} else if (!strncmp(argv[i], "--type=", 7)) {
			type_name = argv[i] + 7;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return pf_cli_usage_error("keygen", "unknown option \"%s\"", argv[i]);
		} else if (!path) {
			path = argv[i];
		} else {
			return pf_cli_usage_error("keygen", "unexpected argument \"%s\": give one KEY.pem", argv[i]);
		}
		if (type_name && pf_attest_key_type_parse(&type, type_name) < 0)
			return pf_cli_usage_error("keygen", "%s", pf_error_last());
	}
	if (!path)
		return pf_cli_usage_error("keygen", "give the file to write the private key to (KEY.pem)");
	pub = public_path_for(path);
	rc = pf_attest_keygen(keyid, path, pub, type);
	if (rc < 0) {
		code = pf_cli_fail(rc);
		goto done;
	}
	if (json) {
		cJSON *o = cJSON_CreateObject();
		char *text;
		cJSON_AddStringToObject(o, "private_key", path);
		cJSON_AddStringToObject(o, "public_key", pub);
		cJSON_AddStringToObject(o, "type", pf_attest_key_type_name(type));
		cJSON_AddStringToObject(o, "keyid", keyid);
		text = cJSON_PrintUnformatted(o);
		printf("%s\n", text ? text : "{}");
		cJSON_free(text);
		cJSON_Delete(o);
	} else {
		printf("private key: %s (keep it secret)\npublic key:  %s\ntype:        %s\nkeyid:       %s\n", path, pub,
		       pf_attest_key_type_name(type), keyid);
	}
	code = pf_cli_finish_stdout(0);
done:
	free(pub);
	return code;
}
