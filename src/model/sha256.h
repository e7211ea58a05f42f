/*
 * sha256.h: SHA-256 of the model artifact, through libcrypto.
 *
 * Streaming interface: sha256_init, any number of sha256_update calls,
 * then sha256_final, which also frees the context.  sha256_hex formats a
 * digest as 64 lower-case hex digits.
 */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN	32
#define SHA256_HEX_LEN		(SHA256_DIGEST_LEN * 2 + 1)

struct evp_md_ctx_st;

struct sha256_ctx {
	struct evp_md_ctx_st	*md;
	int			 failed;	/* libcrypto refused */
};

void	sha256_init(struct sha256_ctx *);
void	sha256_update(struct sha256_ctx *, const void *, size_t);
int	sha256_final(struct sha256_ctx *, uint8_t [SHA256_DIGEST_LEN]);
void	sha256_hex(const uint8_t [SHA256_DIGEST_LEN], char [SHA256_HEX_LEN]);

#endif
