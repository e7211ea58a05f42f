/*
 * sha256.c: SHA-256 for the model artifact's check, from libcrypto's EVP
 * interface.  libcrypto is already in every process that loads the model:
 * the kore binary links it (TLS), and libcurl and libpq do too; so a
 * hand-written digest would only be more code to trust.  Used at load
 * time only.
 *
 * Any failure of libcrypto (an allocation, a provider that will not
 * load) is kept in the context: sha256_final() then returns 0 and a
 * digest of zeros, which matches no MANIFEST line.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "sha256.h"

void
sha256_init(struct sha256_ctx *ctx)
{
	ctx->failed = 0;
	if ((ctx->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL) != 1)
		ctx->failed = 1;
}

void
sha256_update(struct sha256_ctx *ctx, const void *data, size_t len)
{
	if (ctx->failed || len == 0)
		return;
	if (EVP_DigestUpdate(ctx->md, data, len) != 1)
		ctx->failed = 1;
}

/* Writes the digest and frees the context; 0 if libcrypto failed. */
int
sha256_final(struct sha256_ctx *ctx, uint8_t out[SHA256_DIGEST_LEN])
{
	unsigned int	len;

	len = 0;
	if (!ctx->failed && (EVP_DigestFinal_ex(ctx->md, out, &len) != 1 ||
	    len != SHA256_DIGEST_LEN))
		ctx->failed = 1;
	EVP_MD_CTX_free(ctx->md);
	ctx->md = NULL;
	if (ctx->failed)
		memset(out, 0, SHA256_DIGEST_LEN);
	return (!ctx->failed);
}

void
sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN],
    char out[SHA256_HEX_LEN])
{
	static const char	hex[] = "0123456789abcdef";
	int			i;

	for (i = 0; i < SHA256_DIGEST_LEN; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0x0f];
	}
	out[SHA256_HEX_LEN - 1] = '\0';
}
