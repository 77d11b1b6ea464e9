/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4 and Kafka.
 * Check value: crc32c(0, "123456789", 9) == 0xE3069283. Uses SSE4.2 when the processor has it,
 * a table otherwise. Any thread may call these. */
#ifndef AMSI_BASE_CRC32C_H
#define AMSI_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends CRC (0 to start) over N bytes at P. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

/* The table version, for tests and machines without SSE4.2. Same results. */
uint32_t crc32c_sw(uint32_t crc, const void *p, size_t n);

#endif
