// CRC-32 (IEEE 802.3 polynomial, as zlib/PNG) for .mds section and header checksums.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mds {

// Continues a CRC over more bytes; start with crc = 0.
uint32_t crc32_update(uint32_t crc, const void* data, size_t n);
inline uint32_t crc32(const void* data, size_t n) { return crc32_update(0, data, n); }

}  // namespace mds
