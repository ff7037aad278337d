/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and its NUL */
#define UUID_STR_LEN 37

/*
 * s is a UUID in the 8-4-4-4-12 hex form (either case) and nothing else:
 * write it to out in lower case and return true.  out may be s.
 */
bool uuid_canonicalize(const char *s, char out[UUID_STR_LEN]);

/*
 * s in any form the Rust uuid crate's Uuid::parse_str() takes (what mdevctl
 * reads the name of a definition file with): 8-4-4-4-12, 32 hex digits,
 * "{8-4-4-4-12}" or "urn:uuid:8-4-4-4-12" ("urn:uuid:" in lower case), the
 * hex digits in either case.  Writes the canonical form to out and returns
 * true; false for anything else ("{32 hex digits}" too).  out may be s.
 */
bool uuid_canonicalize_any(const char *s, char out[UUID_STR_LEN]);

/* s is already in the canonical form: lower case 8-4-4-4-12 hex. */
bool uuid_is_canonical(const char *s);

/* The 16 bytes of a UUID that uuid_canonicalize() accepts; false otherwise. */
bool uuid_to_bytes(const char *s, unsigned char out[16]);

/* The lower-case 8-4-4-4-12 form of 16 bytes. */
void uuid_format(const unsigned char u[16], char out[UUID_STR_LEN]);

/* A name-based (version 5, SHA-1) UUID, RFC 9562 section 5.5. */
void uuid_v5(const unsigned char ns[16], const char *name, size_t len, unsigned char out[16]);

/* SHA-1 (FIPS 180-4) of data; used for version 5 UUIDs only. */
void sha1(const void *data, size_t len, unsigned char out[20]);
