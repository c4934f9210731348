/* CRC32C (Castagnoli), the checksum GCS keeps for every object. Pure and thread-safe. */
#ifndef GCSMOUNT_UTIL_CRC32C_H
#define GCSMOUNT_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over len bytes. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);
/* GCS's text form: base64 of the 4 bytes in big-endian order, into out (at least 9 bytes). */
void crc32c_base64(uint32_t crc, char out[9]);

#endif
