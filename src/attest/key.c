/*
 * Signing keys for provenance (OpenSSL EVP): make a pair, load PEM files,
 * sign and verify. Two key types, as DSSE users expect: Ed25519 (signature:
 * 64 raw bytes over the message) and ECDSA P-256 (SHA-256 of the message,
 * DER-encoded ECDSA-Sig-Value), both as securesystemslib signs them. A key's
 * id is the SHA-256 of its DER SubjectPublicKeyInfo. Workload: one key, one
 * signature per run or verification.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "verify/hash.h"

#define KEY_FILE_MAX_BYTES (64u * 1024u)

struct pf_attest_key {
	EVP_PKEY *pkey;
	pf_key_type type;
	bool is_private;
	char keyid[65];
	char sslib_keyid[65];
};

int pf_attest_key_type_parse(pf_key_type *out, const char *name)
{
	if (!strcasecmp(name, "ed25519")) {
		*out = PF_KEY_ED25519;
		return 0;
	}
	if (!strcasecmp(name, "ecdsa-p256") || !strcasecmp(name, "ecdsa") || !strcasecmp(name, "p256") ||
	    !strcasecmp(name, "p-256")) {
		*out = PF_KEY_ECDSA_P256;
		return 0;
	}
	return pf_error_code(PF_EINVALID, "unknown key type \"%s\": use ed25519 or ecdsa-p256", name);
}

const char *pf_attest_key_type_name(pf_key_type type)
{
	switch (type) {
	case PF_KEY_ECDSA_P256:
		return "ecdsa-p256";
	case PF_KEY_ECDSA_P384:
		return "ecdsa-p384";
	case PF_KEY_ECDSA_P521:
		return "ecdsa-p521";
	case PF_KEY_ED25519:
		break;
	}
	return "ed25519";
}

/* The digest an ECDSA key signs with (as securesystemslib's ecdsa-sha2-nistpNNN); NULL for Ed25519. */
static const EVP_MD *digest_of(pf_key_type type)
{
	switch (type) {
	case PF_KEY_ECDSA_P256:
		return EVP_sha256();
	case PF_KEY_ECDSA_P384:
		return EVP_sha384();
	case PF_KEY_ECDSA_P521:
		return EVP_sha512();
	case PF_KEY_ED25519:
		break;
	}
	return NULL;
}

/* securesystemslib's scheme name for the key type. */
static const char *sslib_scheme(pf_key_type type)
{
	switch (type) {
	case PF_KEY_ECDSA_P256:
		return "ecdsa-sha2-nistp256";
	case PF_KEY_ECDSA_P384:
		return "ecdsa-sha2-nistp384";
	case PF_KEY_ECDSA_P521:
		return "ecdsa-sha2-nistp521";
	case PF_KEY_ED25519:
		break;
	}
	return "ed25519";
}

const char *pf_attest_key_id(const pf_attest_key *key)
{
	return key->keyid;
}

const char *pf_attest_key_sslib_id(const pf_attest_key *key)
{
	return key->sslib_keyid;
}

pf_key_type pf_attest_key_type(const pf_attest_key *key)
{
	return key->type;
}

void pf_attest_key_free(pf_attest_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}

/* The first OpenSSL error as text (the queue is cleared). */
static const char *ossl_reason(char buf[256])
{
	unsigned long e = ERR_peek_last_error();
	buf[0] = '\0';
	if (e)
		ERR_error_string_n(e, buf, 256);
	ERR_clear_error();
	return buf[0] ? buf : "unknown OpenSSL error";
}

/* The key's type, or -1 for a type pteflow does not sign with. */
static int type_of(EVP_PKEY *pkey)
{
	char group[64] = "";
	size_t glen = 0;
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519)
		return PF_KEY_ED25519;
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) == 1 &&
	    (!strcmp(group, "prime256v1") || !strcmp(group, "P-256")))
		return PF_KEY_ECDSA_P256;
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC && (!strcmp(group, "secp384r1") || !strcmp(group, "P-384")))
		return PF_KEY_ECDSA_P384;
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC && (!strcmp(group, "secp521r1") || !strcmp(group, "P-521")))
		return PF_KEY_ECDSA_P521;
	return -1;
}

static int key_id(char out[65], EVP_PKEY *pkey)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pkey, &der);
	if (n <= 0) {
		char why[256];
		return pf_error_set("cannot encode the public key: %s", ossl_reason(why));
	}
	pf_sha256_bytes(out, der, (size_t)n);
	OPENSSL_free(der);
	return 0;
}

static char *pem_of(EVP_PKEY *pkey, bool private_part, size_t *len);

/*
 * The keyid securesystemslib computes by default (SSlibKey.from_crypto /
 * from_pem without keyid=, and so in-toto): SHA-256 of the canonical JSON
 * {"keytype","keyval":{"public"},"scheme"} with sorted keys and no white
 * space, where "public" is the raw 32 bytes in hex for Ed25519 and the PEM
 * SubjectPublicKeyInfo text for ECDSA (securesystemslib signer/_key.py
 * _from_crypto, signer/_utils.py compute_default_keyid). Canonical JSON
 * escapes only '"' and '\\': the PEM's newlines stay raw bytes.
 */
static int sslib_key_id(char out[65], EVP_PKEY *pkey, pf_key_type type)
{
	pf_buf b;
	char *pub = NULL;
	size_t pub_len = 0;
	int rc = 0;
	pf_buf_init(&b, 64u * 1024u);
	if (type == PF_KEY_ED25519) {
		unsigned char raw[32];
		size_t raw_len = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 || raw_len != sizeof(raw)) {
			rc = pf_error_set("cannot read the raw Ed25519 public key");
			goto done;
		}
		pub = pf_xmalloc(2 * sizeof(raw) + 1);
		for (size_t i = 0; i < raw_len; i++)
			(void)snprintf(pub + 2 * i, 3, "%02x", raw[i]);
		pub_len = 2 * raw_len;
	} else if (!(pub = pem_of(pkey, false, &pub_len))) {
		rc = pf_error_set("cannot encode the public key as PEM");
		goto done;
	}
	(void)pf_buf_printf(&b, "{\"keytype\":\"%s\",\"keyval\":{\"public\":\"",
			    type == PF_KEY_ED25519 ? "ed25519" : "ecdsa");
	for (size_t i = 0; i < pub_len; i++) {
		if (pub[i] == '"' || pub[i] == '\\')
			(void)pf_buf_append(&b, "\\", 1);
		(void)pf_buf_append(&b, &pub[i], 1);
	}
	(void)pf_buf_printf(&b, "\"},\"scheme\":\"%s\"}", sslib_scheme(type));
	pf_sha256_bytes(out, b.data, b.len);
done:
	free(pub);
	pf_buf_dispose(&b);
	return rc;
}

static pf_attest_key *wrap(EVP_PKEY *pkey, bool is_private)
{
	pf_attest_key *k = pf_xcalloc(1, sizeof(*k));
	int t = type_of(pkey);
	k->pkey = pkey;
	k->type = (pf_key_type)t;
	k->is_private = is_private;
	return k;
}

/* No passphrase prompt: an encrypted key fails to load, with a message that says so. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)u = 1;
	return -1;
}

static int parse_key(pf_attest_key **out, const char *pem, size_t len, bool want_private, const char *what)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	int asked = 0, rc = 0;
	char why[256];
	*out = NULL;
	if (len > INT32_MAX) {
		rc = pf_error_code(PF_EINVALID, "%s is too large to be a key", what);
		goto done;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		rc = pf_error_set("out of memory reading %s", what);
		goto done;
	}
	pkey = want_private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &asked)
			    : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, &asked);
	if (!pkey) {
		ossl_reason(why);
		if (asked)
			rc = pf_error_code(PF_EINVALID, "%s is encrypted: pteflow reads unencrypted PKCS#8 keys "
							"(make one with 'pteflow keygen', keep it in a CI secret)", what);
		else if (want_private && memmem(pem, len, "PUBLIC KEY", 10))
			rc = pf_error_code(PF_EINVALID, "%s is a public key: --sign-key takes the private key "
							"(the file 'pteflow keygen' wrote without .pub)", what);
		else if (!want_private && memmem(pem, len, "PRIVATE KEY", 11))
			rc = pf_error_code(PF_EINVALID, "%s is a private key: --key takes the public key "
							"(the .pub.pem file 'pteflow keygen' wrote)", what);
		else
			rc = pf_error_code(PF_EINVALID, "%s is not a PEM %s key (%s): give the file 'pteflow keygen' wrote",
					   what, want_private ? "private" : "public", why);
		goto done;
	}
	if (type_of(pkey) < 0) {
		rc = pf_error_code(PF_EINVALID, "%s is a %s key: pteflow signs with Ed25519 or ECDSA P-256 (also P-384, "
						"P-521) keys only",
				   what, EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "unknown");
		goto done;
	}
	*out = wrap(pkey, want_private);
	pkey = NULL;
	if ((rc = key_id((*out)->keyid, (*out)->pkey)) < 0 ||
	    (rc = sslib_key_id((*out)->sslib_keyid, (*out)->pkey, (*out)->type)) < 0) {
		pf_attest_key_free(*out);
		*out = NULL;
	}
done:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

static int load_key(pf_attest_key **out, const char *path, bool want_private)
{
	pf_buf b;
	char *what = pf_xasprintf("\"%s\"", path);
	int rc;
	*out = NULL;
	pf_buf_init(&b, KEY_FILE_MAX_BYTES);
	rc = pf_fs_read_file(&b, path, KEY_FILE_MAX_BYTES);
	if (rc == PF_ELIMIT)
		rc = pf_error_code(PF_EINVALID, "\"%s\" is larger than 64 KiB: it is not a PEM key", path);
	else if (rc == PF_ENOTFOUND)
		rc = pf_error_code(PF_ENOTFOUND, "the key file \"%s\" does not exist%s", path,
				   want_private ? ": make one with 'pteflow keygen'" : "");
	else if (rc < 0)
		rc = pf_error_code(PF_EENV, "cannot read the key: %s", pf_error_last());
	if (rc == 0)
		rc = parse_key(out, pf_buf_cstr(&b), b.len, want_private, what);
	/* the private key's bytes do not outlive the parse */
	if (b.data)
		OPENSSL_cleanse(b.data, b.len);
	pf_buf_dispose(&b);
	free(what);
	return rc;
}

int pf_attest_key_load_private(pf_attest_key **out, const char *path)
{
	return load_key(out, path, true);
}

int pf_attest_key_load_public(pf_attest_key **out, const char *path)
{
	return load_key(out, path, false);
}

int pf_attest_key_parse_public(pf_attest_key **out, const char *pem, size_t len)
{
	return parse_key(out, pem, len, false, "the public key");
}

/* Create `path` exclusively with `mode` and write all of data; the file is removed on failure. */
static int write_new(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	size_t done = 0;
	if (fd < 0) {
		if (errno == EEXIST)
			return pf_error_code(PF_EINVALID, "\"%s\" exists: pteflow keygen never overwrites a key; "
							  "remove it or choose another name", path);
		return pf_error_errno("cannot create \"%s\"", path);
	}
	/* the umask must not widen or narrow what we promise (0600 for the private key) */
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	{
		int rc = pf_error_errno("cannot write \"%s\"", path);
		if (fd >= 0)
			close(fd);
		unlink(path);
		return rc;
	}
}

static char *pem_of(EVP_PKEY *pkey, bool private_part, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *copy = NULL;
	long n;
	int ok;
	if (!bio)
		return NULL;
	ok = private_part ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(bio, pkey);
	n = BIO_get_mem_data(bio, &data);
	if (ok == 1 && n > 0) {
		copy = pf_xstrndup(data, (size_t)n);
		*len = (size_t)n;
		OPENSSL_cleanse(data, (size_t)n);
	}
	BIO_free(bio);
	return copy;
}

int pf_attest_keygen(char keyid[65], const char *private_path, const char *public_path, pf_key_type type)
{
	EVP_PKEY *pkey = NULL;
	char *priv = NULL, *pub = NULL;
	size_t priv_len = 0, pub_len = 0;
	char why[256];
	int rc = 0;
	struct stat st;
	if (lstat(private_path, &st) == 0 || lstat(public_path, &st) == 0) {
		rc = pf_error_code(PF_EINVALID, "\"%s\" exists: pteflow keygen never overwrites a key; remove it or "
						"choose another name", lstat(private_path, &st) == 0 ? private_path : public_path);
		goto done;
	}
	pkey = type == PF_KEY_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
				      : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!pkey) {
		rc = pf_error_set("cannot make a %s key: %s", pf_attest_key_type_name(type), ossl_reason(why));
		goto done;
	}
	priv = pem_of(pkey, true, &priv_len);
	pub = pem_of(pkey, false, &pub_len);
	if (!priv || !pub) {
		rc = pf_error_set("cannot encode the new key: %s", ossl_reason(why));
		goto done;
	}
	if ((rc = key_id(keyid, pkey)) < 0)
		goto done;
	if ((rc = write_new(private_path, priv, priv_len, 0600)) < 0)
		goto done;
	if ((rc = write_new(public_path, pub, pub_len, 0644)) < 0) {
		unlink(private_path); /* a private key without its public half is of no use: leave nothing */
		goto done;
	}
done:
	if (priv) {
		OPENSSL_cleanse(priv, priv_len);
		free(priv);
	}
	free(pub);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return rc;
}

int pf_attest_sign(unsigned char **out, size_t *out_len, const pf_attest_key *key, const void *msg, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	char why[256];
	int rc = 0;
	*out = NULL;
	*out_len = 0;
	if (!key->is_private) {
		rc = pf_error_code(PF_EINVALID, "cannot sign with a public key");
		goto done;
	}
	if (!ctx || EVP_DigestSignInit(ctx, NULL, digest_of(key->type), NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &sig_len, msg, len) != 1) {
		rc = pf_error_set("cannot sign: %s", ossl_reason(why));
		goto done;
	}
	sig = pf_xmalloc(sig_len ? sig_len : 1);
	if (EVP_DigestSign(ctx, sig, &sig_len, msg, len) != 1) {
		rc = pf_error_set("cannot sign: %s", ossl_reason(why));
		goto done;
	}
	*out = sig;
	*out_len = sig_len;
	sig = NULL;
done:
	free(sig);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int pf_attest_verify_signature(const pf_attest_key *key, const void *sig, size_t sig_len, const void *msg, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;
	/* Ed25519 signatures are exactly 64 bytes; ECDSA DER at most 72 for P-256, 139 for P-521 */
	if (ctx && sig_len > 0 && sig_len <= 256 &&
	    EVP_DigestVerifyInit(ctx, NULL, digest_of(key->type), NULL, key->pkey) == 1)
		ok = EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : PF_EFAILED;
}

char *pf_attest_key_public_pem(const pf_attest_key *key, size_t *out_len)
{
	size_t len = 0;
	char *pem = pem_of(key->pkey, false, &len);
	if (!pem) /* a loaded key always encodes; OpenSSL fails here only when out of memory */
		pf_xmalloc(SIZE_MAX);
	if (out_len)
		*out_len = len;
	return pem;
}
