#ifndef FACTEUR_CLIBCRYPTO_SHIM_H
#define FACTEUR_CLIBCRYPTO_SHIM_H
// OpenSSL 3 libcrypto: only what the DKIM signer needs (PEM key loading, EVP signing).
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#endif
